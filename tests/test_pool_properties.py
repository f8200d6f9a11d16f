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

from jobsim import InMemoryJobStore, Job, JobStatus, PoolClosed, WorkerPool


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
