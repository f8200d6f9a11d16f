"""``purge_finished``: the retention every store offers (memory, SQLite, PostgreSQL), on
asyncio and trio. Only finished jobs go, the newest ``keep`` stay, and ``older_than`` counts
back from ``at``."""

from __future__ import annotations

import pytest

from jobsim import Job, JobStatus
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio


async def _finished_jobs(store: JobStore) -> dict[str, Job]:
    """Six jobs: completed at t=10, 20, 30, failed at 40, cancelled at 50, and one pending
    and one processing that no purge may touch."""
    jobs = {name: Job(type=name) for name in ["c10", "c20", "c30", "f40", "x50", "p", "r"]}
    for job in jobs.values():
        await store.add(job, at=1.0)
    for name, at in [("c10", 10.0), ("c20", 20.0), ("c30", 30.0)]:
        assert await store.claim(jobs[name].id, "w", at=at - 1)
        await store.complete(jobs[name].id, {"at": at}, at=at)
    assert await store.claim(jobs["f40"].id, "w", at=39.0)
    await store.fail(jobs["f40"].id, "boom", at=40.0)
    assert await store.cancel(jobs["x50"].id, at=50.0)
    assert await store.claim(jobs["r"].id, "w", at=5.0)
    return jobs


async def _left(store: JobStore) -> set[str]:
    return {job.type for job in await store.list()}


async def test_keep_leaves_the_most_recently_finished(store: JobStore) -> None:
    await _finished_jobs(store)
    assert await store.purge_finished(keep=2) == 3
    assert await _left(store) == {"f40", "x50", "p", "r"}
    counts = await store.counts()
    assert counts[JobStatus.COMPLETED] == 0 and counts[JobStatus.FAILED] == 1
    assert counts[JobStatus.PENDING] == counts[JobStatus.PROCESSING] == 1
    assert await store.purge_finished(keep=2) == 0  # idempotent


async def test_older_than_counts_back_from_at(store: JobStore) -> None:
    await _finished_jobs(store)
    assert await store.purge_finished(older_than=15.0, at=50.0) == 3  # finished before 35
    assert await _left(store) == {"f40", "x50", "p", "r"}


async def test_both_bounds_and_keep_zero(store: JobStore) -> None:
    await _finished_jobs(store)
    assert await store.purge_finished(keep=4, older_than=25.0, at=50.0) == 2  # age wins here
    assert await store.purge_finished(keep=0) == 3
    assert await _left(store) == {"p", "r"}


async def test_no_bound_purges_nothing_and_bad_bounds_are_refused(store: JobStore) -> None:
    await _finished_jobs(store)
    assert await store.purge_finished() == 0
    assert len(await _left(store)) == 7
    with pytest.raises(ValueError, match="keep must be an integer >= 0"):
        await store.purge_finished(keep=-1)
    with pytest.raises(ValueError, match="older_than must be a number of seconds"):
        await store.purge_finished(older_than=float("nan"))
