"""WorkerPool.submit_many: a batch in one call behaves like a loop of submit."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from jobsim import (
    DuplicateJob,
    InMemoryJobStore,
    Job,
    JobNotFound,
    JobStatus,
    PoolClosed,
    SQLiteJobStore,
    TraceEvent,
    WorkerPool,
)

pytestmark = pytest.mark.anyio


async def _noop(job: Job) -> str:
    await anyio.lowlevel.checkpoint()
    return job.id


async def test_a_batch_larger_than_the_channel_runs_every_job_once_in_order() -> None:
    queued: list[str] = []

    def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
        if event is TraceEvent.QUEUED:
            queued.append(job_id)

    store = InMemoryJobStore()
    jobs = [Job(type="t", payload={"n": n}) for n in range(200)]
    async with WorkerPool(store, _noop, workers=3, capacity=4, tracer=tracer) as pool:
        submitted = await pool.submit_many(iter(jobs))  # any iterable; waits for room
        report = await pool.shutdown()
    assert submitted == jobs
    assert queued == [job.id for job in jobs]  # delivered in the batch's order
    assert report.completed == 200 and report.duplicates_skipped == 0
    for job in jobs:
        stored = await store.get(job.id)
        assert stored.status is JobStatus.COMPLETED and stored.attempts == 1


async def test_a_duplicate_stops_the_batch_after_the_jobs_before_it() -> None:
    store = InMemoryJobStore()
    first, second, third = Job(type="t"), Job(type="t"), Job(type="t")
    async with WorkerPool(store, _noop, workers=2, capacity=8) as pool:
        await pool.submit(second)
        with pytest.raises(DuplicateJob):
            await pool.submit_many([first, second, third])
    assert (await store.get(first.id)).status is JobStatus.COMPLETED
    assert (await store.get(second.id)).attempts == 1  # the earlier submit ran it, once
    with pytest.raises(JobNotFound):
        await store.get(third.id)


async def test_a_closed_pool_refuses_the_batch_before_storing_anything() -> None:
    store = InMemoryJobStore()
    async with WorkerPool(store, _noop, workers=1) as pool:
        pass
    with pytest.raises(PoolClosed, match="closed"):
        await pool.submit_many([Job(type="t")])
    assert len(store) == 0


async def test_shutdown_while_a_batch_waits_for_room_keeps_what_got_in() -> None:
    """The batch waits on a full channel; a drained shutdown lets the job it holds in, runs
    every submitted job, and the batch raises PoolClosed saying how many got in."""
    gate = anyio.Event()

    async def blocked(job: Job) -> None:
        await gate.wait()

    store = InMemoryJobStore()
    jobs = [Job(type="t") for _ in range(10)]
    outcome: list[BaseException] = []
    async with WorkerPool(store, blocked, workers=1, capacity=2) as pool:

        async def batch() -> None:
            try:
                await pool.submit_many(jobs)
            except PoolClosed as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(batch)
            while len(store) < 4:  # 1 running, 2 queued, 1 waiting for room
                await anyio.sleep(0.01)
            tg.start_soon(pool.shutdown)
            while pool.state == "running":
                await anyio.sleep(0.01)
            gate.set()
    assert len(outcome) == 1 and "the first 4 job(s) of this batch" in str(outcome[0])
    assert len(store) == 4
    counts = await store.counts()
    assert counts[JobStatus.COMPLETED] == 4 and counts[JobStatus.PENDING] == 0


async def test_a_store_without_the_nowait_path_takes_the_batch_too(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.db")
    try:
        jobs = [Job(type="t") for _ in range(30)]
        async with WorkerPool(store, _noop, workers=3, capacity=4) as pool:
            assert await pool.submit_many(jobs) == jobs
        counts = await store.counts()
        assert counts[JobStatus.COMPLETED] == 30
    finally:
        await store.close()
