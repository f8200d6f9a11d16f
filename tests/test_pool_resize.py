"""WorkerPool.resize: grow at once, shrink between jobs, never interrupt or lose a job."""

from __future__ import annotations

from collections import Counter

import anyio
import anyio.lowlevel
import pytest

from jobsim import InMemoryJobStore, Job, JobStatus, PoolClosed, WorkerPool
from jobsim import clock as clocks
from jobsim.events import TraceEvent

BACKENDS = ["asyncio", "trio"]


def sleeper(runs: Counter[str]):  # type: ignore[no-untyped-def]
    async def handler(job: Job) -> None:
        runs[job.id] += 1
        await anyio.sleep(job.payload["duration"])

    return handler


@pytest.mark.parametrize("backend", BACKENDS)
def test_growing_starts_workers_at_once(backend: str) -> None:
    """8 jobs x 1 s on 1 worker, grown to 4 at t=0: 2 s, not 8 s (virtual time)."""

    async def main() -> tuple[float, int, int]:
        runs: Counter[str] = Counter()
        now = clocks.loop_clock()
        async with WorkerPool(InMemoryJobStore(), sleeper(runs), workers=1) as pool:
            for _ in range(8):
                await pool.submit(Job(payload={"duration": 1.0}))
            await pool.resize(4)
            live = pool.live_workers
            await pool.shutdown()
        return now(), live, sum(runs.values())

    elapsed, live, ran = clocks.run(main, backend=backend, clock="virtual")
    assert live == 4
    assert elapsed == 2.0
    assert ran == 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_shrinking_lets_busy_workers_finish_and_idle_ones_leave(backend: str) -> None:
    """4 workers each run a 1 s job; at t=0.5 the pool shrinks to 1. No job is interrupted
    (every job completes on its first attempt); the surplus workers leave after their job,
    so the last 4 jobs run one after another on the one worker left: done at t = 5 s."""

    async def main() -> tuple[float, list[Job], list[int], list[tuple[TraceEvent, str]]]:
        runs: Counter[str] = Counter()
        store = InMemoryJobStore()
        now = clocks.loop_clock()
        trace: list[tuple[TraceEvent, str]] = []

        def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
            if event in (TraceEvent.WORKER_STARTED, TraceEvent.WORKER_STOPPED):
                assert worker_id is not None
                trace.append((event, worker_id))

        live: list[int] = []
        async with WorkerPool(store, sleeper(runs), workers=4, tracer=tracer) as pool:
            jobs = [await pool.submit(Job(payload={"duration": 1.0})) for _ in range(8)]
            await anyio.sleep(0.5)
            await pool.resize(1)
            assert pool.workers == 1
            live.append(pool.live_workers)  # all 4 still run their job
            await anyio.sleep(0.6)  # t = 1.1: the first four jobs are done
            live.append(pool.live_workers)
            await pool.shutdown()
        return now(), [await store.get(j.id) for j in jobs], live, trace

    elapsed, jobs, live, trace = clocks.run(main, backend=backend, clock="virtual")
    assert live == [4, 1]
    assert elapsed == 5.0
    assert all(j.status is JobStatus.COMPLETED and j.attempts == 1 for j in jobs)
    stopped = [w for event, w in trace if event is TraceEvent.WORKER_STOPPED]
    assert len(stopped) == 4  # three by the resize, the last one at shutdown
    assert len({w for event, w in trace if event is TraceEvent.WORKER_STARTED}) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_idle_surplus_workers_leave_at_once(backend: str) -> None:
    async def main() -> tuple[int, int, int]:
        async with WorkerPool(InMemoryJobStore(), sleeper(Counter()), workers=5) as pool:
            await anyio.sleep(0.1)  # every worker waits for work
            await pool.resize(2)
            await anyio.lowlevel.checkpoint()  # the woken workers leave without any job finishing
            await anyio.lowlevel.checkpoint()
            after_shrink = pool.live_workers
            await pool.resize(6)
            after_grow = pool.live_workers
            await pool.submit(Job(payload={"duration": 0.5}))
        return after_shrink, after_grow, len(pool.worker_ids)

    shrunk, grown, ids = clocks.run(main, backend=backend, clock="virtual")
    assert (shrunk, grown) == (2, 6)
    assert ids == 9  # new workers get new ids: worker-6 .. worker-9


@pytest.mark.anyio
async def test_resize_refuses_bad_sizes_and_closed_pools() -> None:
    pool = WorkerPool(InMemoryJobStore(), sleeper(Counter()), workers=2)
    with pytest.raises(PoolClosed, match="cannot resize: the pool has not started"):
        await pool.resize(3)
    async with pool:
        for bad in (0, -1, 2.5, "3", True):
            with pytest.raises(ValueError, match="workers must be an integer >= 1"):
                await pool.resize(bad)  # type: ignore[arg-type]
        await pool.resize(2)  # same size: nothing to do
        assert pool.workers == 2
    with pytest.raises(PoolClosed, match="cannot resize: the pool is closed"):
        await pool.resize(3)
