"""Who runs next, in every store: priorities, ttl and the ``expired`` status.

The contract: ``claim_next`` takes the highest priority, then the oldest; a job whose ttl
passed before its first start is never claimed and ends ``expired`` (the refused claim marks
it, atomically; ``expire_due`` sweeps). Memory, SQLite and PostgreSQL; asyncio and trio.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobsim import Job, JobStatus
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio

P, R, E = JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.EXPIRED


async def test_priority_and_ttl_round_trip(store: JobStore) -> None:
    job = await store.add(Job(priority=-7, ttl=2.5), at=1.0)
    got = await store.get(job.id)
    assert (got.priority, got.ttl, got.expires_at) == (-7, 2.5, 3.5)
    plain = await store.add(Job())
    assert ((await store.get(plain.id)).priority, (await store.get(plain.id)).ttl) == (0, None)


async def test_a_claim_after_the_ttl_refuses_and_marks_the_job_expired(store: JobStore) -> None:
    job = await store.add(Job(ttl=5.0), at=10.0)
    assert await store.claim(job.id, "w", at=15.0) is False  # created + ttl: too late
    got = await store.get(job.id)
    assert (got.status, got.attempts, got.worker_id, got.finished) == (E, 0, None, 15.0)
    assert await store.claim(job.id, "w", at=11.0) is False  # final: never runs
    assert [j.id for j in await store.list(status="expired")] == [job.id]
    assert (await store.counts())[E] == 1
    assert await store.cancel(job.id) is False  # already final


async def test_a_claim_within_the_ttl_runs_and_a_started_job_never_expires(
    store: JobStore,
) -> None:
    job = await store.add(Job(ttl=5.0), at=10.0)
    assert await store.claim(job.id, "w", at=14.9) is True
    await store.release(job.id, "retry later")
    assert await store.claim(job.id, "w", at=100.0) is True  # started once: no expiry
    assert (await store.get(job.id)).attempts == 2


async def test_expire_due_sweeps_only_unstarted_jobs_past_their_ttl(store: JobStore) -> None:
    late = await store.add(Job(ttl=1.0), at=0.0)
    young = await store.add(Job(ttl=100.0), at=0.0)
    forever = await store.add(Job(), at=0.0)
    started = await store.add(Job(ttl=1.0), at=0.0)
    assert await store.claim(started.id, "w", at=0.5)
    await store.release(started.id)
    assert await store.expire_due(at=2.0) == 1  # type: ignore[attr-defined]
    assert await store.expire_due(at=2.0) == 0  # type: ignore[attr-defined]
    statuses = {j.id: (await store.get(j.id)).status for j in (late, young, forever, started)}
    assert statuses == {late.id: E, young.id: P, forever.id: P, started.id: P}
    assert (await store.get(late.id)).finished == 2.0


async def test_claim_next_takes_the_highest_priority_then_the_oldest(
    leasing_store: Any,
) -> None:
    specs = [("a", 0), ("b", 5), ("c", -1), ("d", 5), ("e", 0), ("f", 9)]
    for i, (name, priority) in enumerate(specs):
        await leasing_store.add(Job(type=name, priority=priority), at=float(i))
    order = []
    while (job := await leasing_store.claim_next("w", 30.0)) is not None:
        order.append(job.type)
    assert order == ["f", "b", "d", "a", "e", "c"]


async def test_claim_next_skips_and_expires_jobs_past_their_ttl(leasing_store: Any) -> None:
    stale = await leasing_store.add(Job(type="stale", priority=9, ttl=1.0), at=0.0)
    fresh = await leasing_store.add(Job(type="fresh", ttl=100.0), at=0.0)
    job = await leasing_store.claim_next("w", 30.0, at=5.0)
    assert job is not None and job.id == fresh.id
    got = await leasing_store.get(stale.id)
    assert (got.status, got.finished, got.attempts) == (E, 5.0, 0)
    assert await leasing_store.claim_next("w", 30.0, at=5.0) is None


async def test_expired_jobs_are_finished_for_retention(store: JobStore) -> None:
    old = await store.add(Job(type="old", ttl=1.0), at=0.0)
    assert await store.claim(old.id, "w", at=10.0) is False  # expired at t=10
    waiting = await store.add(Job(type="waiting"), at=0.0)
    assert await store.purge_finished(older_than=5.0, at=20.0) == 1  # type: ignore[attr-defined]
    assert [j.id for j in await store.list()] == [waiting.id]
    assert (await store.counts())[E] == 0
