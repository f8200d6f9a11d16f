"""The leasing contract (stores shared between processes): claim_next, renew, expiry, wake-up.

Runs on SQLite and PostgreSQL (and memory once it implements claim_next), asyncio and trio.
Lease times are on the store's clock (wall clock for SQLite, the server's for PostgreSQL), so
``requeue_expired`` ignores the caller's ``at=``; expiry is tested with a very short lease.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from jobsim import Job, JobStatus
from jobsim.stores import LeasingJobStore

pytestmark = pytest.mark.anyio


async def test_sql_stores_are_leasing_stores(leasing_store: Any) -> None:
    assert isinstance(leasing_store, LeasingJobStore)


async def test_claim_next_takes_the_oldest_pending_job_with_a_lease(leasing_store: Any) -> None:
    jobs = [Job(type=f"t{i}") for i in range(3)]
    for job in jobs:
        await leasing_store.add(job)
    await leasing_store.claim(jobs[0].id, "other")
    before = time.time()
    got = await leasing_store.claim_next("w1", 30.0, at=50.0)
    assert got is not None and got.id == jobs[1].id
    assert (got.status, got.worker_id, got.attempts, got.started) == (
        JobStatus.PROCESSING,
        "w1",
        1,
        50.0,
    )
    assert got.lease_expires is not None
    assert before + 29 < got.lease_expires < time.time() + 31
    assert (await leasing_store.get(jobs[1].id)).lease_expires == got.lease_expires
    nxt = await leasing_store.claim_next("w2", 30.0)
    assert nxt is not None and nxt.id == jobs[2].id
    assert await leasing_store.claim_next("w3", 30.0) is None


async def test_claim_next_rejects_a_non_positive_lease(leasing_store: Any) -> None:
    with pytest.raises(ValueError, match="lease must be > 0"):
        await leasing_store.claim_next("w", 0)


async def test_concurrent_claim_next_never_hands_a_job_out_twice(leasing_factory: Any) -> None:
    stores = [await leasing_factory.open() for _ in range(3)]
    jobs = [Job() for _ in range(60)]
    for job in jobs:
        await stores[0].add(job)
    claimed: list[str] = []

    async def claimer(i: int) -> None:
        while (job := await stores[i % 3].claim_next(f"w{i}", 30.0)) is not None:
            claimed.append(job.id)

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(claimer, i)
    assert sorted(claimed) == sorted(j.id for j in jobs)


async def test_renew_extends_only_the_holders_lease(leasing_store: Any) -> None:
    await leasing_store.add(Job())
    job = await leasing_store.claim_next("w1", 1.0)
    assert await leasing_store.renew(job.id, "w1", 60.0) is True
    renewed = await leasing_store.get(job.id)
    assert renewed.lease_expires > job.lease_expires + 50
    assert await leasing_store.renew(job.id, "w2", 60.0) is False  # not the holder
    await leasing_store.complete(job.id)
    assert await leasing_store.renew(job.id, "w1", 60.0) is False  # no longer running
    assert (await leasing_store.get(job.id)).lease_expires is None


async def test_an_expired_lease_returns_the_job_and_the_next_claim_is_attempt_two(
    leasing_store: Any,
) -> None:
    await leasing_store.add(Job())
    await leasing_store.add(Job())
    held = await leasing_store.claim_next("alive", 60.0)
    job = await leasing_store.claim_next("crashed", 0.05)
    assert await leasing_store.claim_next("w2", 5.0) is None
    await anyio.sleep(0.15)  # the short lease lapses; the long one does not
    assert await leasing_store.requeue_expired(at=0.0) == 1  # at= is the caller's clock: ignored
    assert (await leasing_store.get(held.id)).status is JobStatus.PROCESSING
    back = await leasing_store.get(job.id)
    assert (back.status, back.attempts, back.lease_expires) == (JobStatus.PENDING, 1, None)
    assert "lease expired" in back.error and "crashed" in back.error
    again = await leasing_store.claim_next("w2", 5.0)
    assert (again.id, again.attempts, again.worker_id) == (job.id, 2, "w2")
    await leasing_store.complete(job.id, "done")
    assert await leasing_store.requeue_expired() == 0  # finished jobs hold no lease


async def test_wait_for_jobs_wakes_when_a_job_is_added(leasing_factory: Any) -> None:
    waiter, producer = await leasing_factory.open(), await leasing_factory.open()
    woke: list[bool] = []

    async def wait() -> None:
        await waiter.wait_for_jobs(60.0)
        woke.append(True)

    with anyio.fail_after(15):  # 60 s would mean it never woke
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.3)
            assert woke == []  # nothing pending yet: it waits
            await producer.add(Job())
    assert woke == [True]
    assert await waiter.claim_next("w", 5.0) is not None


async def test_wait_for_jobs_returns_after_its_timeout_when_nothing_comes(
    leasing_store: Any,
) -> None:
    with anyio.fail_after(15):
        await leasing_store.wait_for_jobs(0.2)
