"""The pool writes outcomes with its claim's token: a stale claim's outcome is refused by the
store, counted as ``refused`` and never as completed; leases are renewed through a graceful
drain and a retry's delay; no false "lost the lease" warnings. SQLite and PostgreSQL stores,
asyncio and trio."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from jobsim import Job, JobStatus, RetryPolicy, WorkerPool

pytestmark = pytest.mark.anyio

# Renewed every LEASE / 3, a lease lapses only when its holder cannot renew for 2/3 of it: at
# 1.5 s, a stall of 1 s, far beyond what a loaded two-core machine does to a running loop.
LEASE = 1.5


async def test_a_taken_over_claims_outcome_is_refused_and_not_counted(
    leasing_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store, other = await leasing_factory.open(), await leasing_factory.open()
    job = await store.add(Job())
    taken_over = anyio.Event()

    async def handler(claimed: Job) -> str:
        # Another process takes the job over, as after a lapsed lease.
        await other.release(claimed.id, "lease expired", token=claimed.token)
        assert (await other.claim_next("elsewhere-1", 60.0)) is not None
        taken_over.set()
        return "stale"

    async with WorkerPool(store, handler, workers=1, lease=30.0, poll_interval=0.05) as pool:
        with anyio.fail_after(20):
            await taken_over.wait()
        report = await pool.shutdown()
    assert (report.completed, report.refused) == (0, 1)
    after = await store.get(job.id)
    assert (after.status, after.worker_id, after.attempts) == (
        JobStatus.PROCESSING,
        "elsewhere-1",
        2,
    )
    assert after.result is None
    assert any("claim lost" in r.getMessage() for r in caplog.records)


async def test_leases_are_renewed_through_the_drain_and_a_retry_delay(
    leasing_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store, sweeper = await leasing_factory.open(), await leasing_factory.open()
    long_job = await store.add(Job(payload={"seconds": 2 * LEASE}))  # drained: 2 leases long
    retried = await store.add(Job(payload={"seconds": 0.0}, max_attempts=2))
    started, failed = anyio.Event(), anyio.Event()

    async def handler(job: Job) -> str:
        if job.id == retried.id and job.attempts == 1:
            failed.set()
            raise RuntimeError("once")
        started.set()
        await anyio.sleep(job.payload["seconds"])
        return "ok"

    swept = 0

    async def sweep() -> None:  # another process's sweeper, running all along
        nonlocal swept
        while True:
            swept += await sweeper.requeue_expired()
            await anyio.sleep(0.05)

    policy = RetryPolicy(base=4 * LEASE, jitter=False)  # held, renewed, through the drain
    async with anyio.create_task_group() as tg:
        tg.start_soon(sweep)
        async with WorkerPool(store, handler, workers=2, lease=LEASE, retry=policy) as pool:
            with anyio.fail_after(20):
                await started.wait()
                await failed.wait()
            report = await pool.shutdown(timeout=30)  # drains the long job
        tg.cancel_scope.cancel()
    assert swept == 0  # no lease lapsed: not while draining, not during the retry delay
    assert report.refused == 0 and report.timed_out is False
    assert (await store.get(long_job.id)).status is JobStatus.COMPLETED
    back = await store.get(retried.id)
    assert back.status is JobStatus.PENDING and back.attempts == 1  # released at shutdown
    assert not [r for r in caplog.records if "lost the lease" in r.getMessage()]
