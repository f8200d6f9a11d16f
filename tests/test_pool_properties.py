"""Property: whatever the pool's size and whenever shutdown comes, no job is lost or stranded.

After ``shutdown`` returns, every acknowledged job is completed, failed or pending in the store;
none is ``processing`` and none is missing; no job is stored that was not acknowledged.
"""

from __future__ import annotations

from collections import Counter

import anyio
import anyio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsim import InMemoryJobStore, Job, JobStatus, PoolClosed, RetryPolicy, WorkerPool


@settings(max_examples=60, deadline=None)
@given(
    backend=st.sampled_from(["asyncio", "trio"]),
    workers=st.integers(1, 8),
    capacity=st.integers(1, 8),
    jobs=st.integers(0, 40),
    stop_after=st.integers(0, 40),
    drain=st.booleans(),
    timeout=st.none() | st.sampled_from([0.0, 0.001, 0.005, 0.05]),
    durations=st.lists(st.sampled_from([0.0, 0.001, 0.003]), min_size=1, max_size=5),
    fail_every=st.integers(0, 4),
)
def test_shutdown_never_loses_or_strands_a_job(
    backend: str,
    workers: int,
    capacity: int,
    jobs: int,
    stop_after: int,
    drain: bool,
    timeout: float | None,
    durations: list[float],
    fail_every: int,
) -> None:
    async def handler(job: Job) -> None:
        await anyio.sleep(job.payload["duration"])
        if job.payload["fail"]:
            raise RuntimeError("injected failure")

    async def main() -> None:
        store = InMemoryJobStore()
        acknowledged: list[str] = []

        async def producer(pool: WorkerPool) -> None:
            for n in range(jobs):
                payload = {
                    "duration": durations[n % len(durations)],
                    "fail": bool(fail_every) and n % fail_every == 0,
                }
                try:
                    job = await pool.submit(Job(payload=payload))
                except PoolClosed:
                    return
                acknowledged.append(job.id)

        async with WorkerPool(store, handler, workers=workers, capacity=capacity) as pool:
            async with anyio.create_task_group() as tg:
                tg.start_soon(producer, pool)
                while len(acknowledged) < min(stop_after, jobs):
                    await anyio.lowlevel.checkpoint()
                report = await pool.shutdown(drain=drain, timeout=timeout)

        statuses = Counter([(await store.get(job_id)).status for job_id in acknowledged])
        assert statuses[JobStatus.PROCESSING] == 0
        assert len(store) == len(acknowledged)  # nothing half-accepted
        assert report.completed == statuses[JobStatus.COMPLETED]
        assert report.failed == statuses[JobStatus.FAILED]
        assert report.pending == statuses[JobStatus.PENDING]
        assert sum(statuses.values()) == len(acknowledged)
        if drain and timeout is None:
            assert report.pending == 0 and report.drained

    anyio.run(main, backend=backend)


@settings(max_examples=60, deadline=None)
@given(
    backend=st.sampled_from(["asyncio", "trio"]),
    workers=st.integers(1, 6),
    capacity=st.integers(1, 8),
    jobs=st.integers(1, 30),
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=6),
    max_attempts=st.integers(1, 3),
    fail_every=st.integers(0, 3),
    cancel_every=st.integers(0, 5),
    duplicate_every=st.integers(0, 3),
    drain=st.booleans(),
)
def test_resizing_while_running_loses_nothing_and_runs_each_attempt_once(
    backend: str,
    workers: int,
    capacity: int,
    jobs: int,
    sizes: list[int],
    max_attempts: int,
    fail_every: int,
    cancel_every: int,
    duplicate_every: int,
    drain: bool,
) -> None:
    """Random resizes during a run with retries, cancellations and duplicate deliveries:
    every acknowledged job ends in the store (none processing, none missing), no attempt's
    handler runs twice, and a drained run leaves nothing pending but retries cut short."""
    runs: Counter[tuple[str, int]] = Counter()

    async def handler(job: Job) -> None:
        runs[job.id, job.attempts] += 1
        await anyio.sleep(job.payload["duration"])
        if job.payload["fail"] and job.attempts < job.max_attempts:
            raise RuntimeError("injected failure")

    async def main() -> None:
        store = InMemoryJobStore()
        acknowledged: list[str] = []
        policy = RetryPolicy(base=0.001, factor=1.0, jitter=False)
        pool = WorkerPool(store, handler, workers=workers, capacity=capacity, retry=policy)
        async with pool:

            async def produce() -> None:
                for n in range(jobs):
                    payload = {"duration": 0.001 * (n % 3), "fail": fail_every and n % fail_every}
                    job = await pool.submit(Job(payload=payload, max_attempts=max_attempts))
                    acknowledged.append(job.id)
                    if duplicate_every and n % duplicate_every == 0:
                        await pool.deliver(job.id)
                    if cancel_every and n % cancel_every == 0:
                        await pool.cancel(job.id)

            async def resize() -> None:
                for size in sizes:
                    await anyio.sleep(0.001)
                    await pool.resize(size)
                    assert pool.workers == size

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                tg.start_soon(resize)
            await anyio.sleep(0.02)  # let retries come back
            report = await pool.shutdown(drain=drain)
        assert pool.live_workers == 0
        assert report.interrupted == 0  # a resize never interrupts a running job
        statuses = Counter([(await store.get(job_id)).status for job_id in acknowledged])
        assert statuses[JobStatus.PROCESSING] == 0
        assert len(store) == len(acknowledged) == jobs
        assert sum(statuses.values()) == jobs
        assert all(count == 1 for count in runs.values()), runs  # no attempt ran twice
        assert report.completed == statuses[JobStatus.COMPLETED]
        assert report.cancelled == statuses[JobStatus.CANCELLED]
        if drain:
            assert report.pending == statuses[JobStatus.PENDING]

    anyio.run(main, backend=backend)
