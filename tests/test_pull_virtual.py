"""Pull mode on a SQLite store in virtual time, on both backends.

The store's statements run on its database thread. While a statement runs every task may be
blocked, and the virtual clock must then wait for the thread, not jump to the only timer left:
the pool's supervisor sleeps forever (a timer at infinity on asyncio), so a jump there ended
``sleep_forever`` and closed the retry timers' task group under the pool.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from jobsim import clock as clocks
from jobsim.domain import Job, JobStatus
from jobsim.pool import WorkerPool
from jobsim.retry import RetryPolicy
from jobsim.stores.sqlite import SQLiteJobStore


async def _fail_once_then_complete(path: Path) -> tuple[list[float], Job, int, int]:
    store = await SQLiteJobStore.open(path)
    starts: list[float] = []
    done = anyio.Event()

    async def handler(job: Job) -> str:
        starts.append(anyio.current_time())
        if job.attempts == 1:
            raise RuntimeError("first attempt fails")
        done.set()
        return "ok"

    try:
        retry = RetryPolicy(base=2.0, jitter=False)
        async with WorkerPool(
            store, handler, workers=2, lease=30.0, poll_interval=0.5, retry=retry
        ) as pool:
            job = await pool.submit(Job(type="flaky", payload={}, max_attempts=3))
            await done.wait()
            report = await pool.shutdown()
        return starts, await store.get(job.id), report.retried, report.completed
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sqlite_pull_mode_retries_in_virtual_time(backend: str, tmp_path: Path) -> None:
    starts, job, retried, completed = clocks.run(
        _fail_once_then_complete, tmp_path / "jobs.db", backend=backend, clock="virtual"
    )
    assert job.status is JobStatus.COMPLETED and job.attempts == 2
    assert (retried, completed) == (1, 1)
    assert len(starts) == 2 and all(math.isfinite(t) for t in starts)
    assert starts[1] - starts[0] >= 2.0  # the retry waited its backoff, in virtual seconds


async def _thread_beside_sleep_forever() -> tuple[float, float]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.sleep_forever)
        await anyio.to_thread.run_sync(time.sleep, 0.05)  # the only other timer is infinity
        after_thread = anyio.current_time()
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    return after_thread, anyio.current_time()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_virtual_clock_waits_for_a_thread_instead_of_jumping_to_infinity(backend: str) -> None:
    after_thread, end = clocks.run(_thread_beside_sleep_forever, backend=backend, clock="virtual")
    assert (after_thread, end) == (0.0, 1.0)
