"""Fencing: a claim's outcome is written only by its current holder (every store, both backends).

A claim is named by its token (worker id + attempt number; the attempt grows with every
claim). ``complete``/``fail``/``release``/``renew`` given a token succeed only while that claim
is current, checked in the store's one conditional statement; a stale holder gets
``ClaimLost`` (or False from ``renew``) and the job is left exactly as the current holder has it.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from jobsim import ClaimLost, ClaimToken, InvalidTransition, Job, JobStatus
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio


async def _claimed(store: JobStore, job_id: str, worker_id: str) -> ClaimToken:
    assert await store.claim(job_id, worker_id)
    token = (await store.get(job_id)).token
    assert token is not None and token.worker_id == worker_id
    return token


async def test_a_claims_token_is_its_worker_and_attempt(store: JobStore) -> None:
    job = await store.add(Job())
    assert (await store.get(job.id)).token is None  # pending: nobody holds it
    assert await _claimed(store, job.id, "w1") == ClaimToken("w1", 1)
    await store.release(job.id, token=ClaimToken("w1", 1))
    assert await _claimed(store, job.id, "w1") == ClaimToken("w1", 2)


@pytest.mark.parametrize("outcome", ["complete", "fail", "release"])
async def test_a_stale_holders_outcome_is_refused_and_changes_nothing(
    store: JobStore, outcome: str
) -> None:
    job = await store.add(Job())
    stale = await _claimed(store, job.id, "w1")
    await store.release(job.id, "lease expired", token=stale)  # as a lapsed lease would
    current = await _claimed(store, job.id, "w2")
    write: dict[str, Any] = {
        "complete": lambda t: store.complete(job.id, "stale result", token=t),
        "fail": lambda t: store.fail(job.id, "stale error", token=t),
        "release": lambda t: store.release(job.id, "stale release", token=t),
    }
    with pytest.raises(ClaimLost) as caught:
        await write[outcome](stale)
    assert caught.value.token == stale and caught.value.holder == current
    message = str(caught.value)
    assert "w1 (attempt 1)" in message and "processing by w2, attempt 2" in message
    after = await store.get(job.id)
    assert (after.status, after.token, after.result) == (JobStatus.PROCESSING, current, None)
    assert after.error == "lease expired"
    await write[outcome](current)  # the current holder's write goes through
    assert (await store.get(job.id)).status is {
        "complete": JobStatus.COMPLETED,
        "fail": JobStatus.FAILED,
        "release": JobStatus.PENDING,
    }[outcome]


async def test_the_same_worker_reclaiming_fences_its_own_earlier_attempt(store: JobStore) -> None:
    job = await store.add(Job())
    first = await _claimed(store, job.id, "w1")
    await store.release(job.id, token=first)
    second = await _claimed(store, job.id, "w1")
    with pytest.raises(ClaimLost, match="attempt 1"):
        await store.complete(job.id, "old", token=first)
    await store.complete(job.id, "new", token=second)
    assert (await store.get(job.id)).result == "new"


async def test_a_token_for_a_finished_or_pending_job_is_refused(store: JobStore) -> None:
    done, waiting = await store.add(Job()), await store.add(Job())
    token = await _claimed(store, done.id, "w1")
    await store.complete(done.id, "first", token=token)
    with pytest.raises(ClaimLost, match="now completed"):
        await store.complete(done.id, "second", token=token)
    assert (await store.get(done.id)).result == "first"
    with pytest.raises(ClaimLost, match="now pending"):
        await store.complete(waiting.id, token=ClaimToken("w1", 1))
    with pytest.raises(ClaimLost, match="now cancelled"):
        other = await store.add(Job())
        token = await _claimed(store, other.id, "w1")
        assert await store.cancel(other.id)
        await store.fail(other.id, "too late", token=token)
    assert (await store.get(other.id)).status is JobStatus.CANCELLED


async def test_unfenced_writes_still_check_the_transition(store: JobStore) -> None:
    job = await store.add(Job())
    with pytest.raises(InvalidTransition) as caught:
        await store.complete(job.id)
    assert not isinstance(caught.value, ClaimLost)
    await store.claim(job.id, "w1")
    await store.complete(job.id, "operator")  # no token: whoever holds it
    assert (await store.get(job.id)).status is JobStatus.COMPLETED


async def test_of_many_concurrent_holders_only_the_current_one_completes(
    store_factory: Any,
) -> None:
    stores = [await store_factory.open() for _ in range(3)]
    job = await stores[0].add(Job())
    tokens = []
    for i in range(6):  # six claims in turn; only the last is current
        tokens.append(await _claimed(stores[0], job.id, f"w{i}"))
        if i < 5:
            await stores[0].release(job.id, token=tokens[-1])
    won: list[ClaimToken] = []

    async def complete(i: int) -> None:
        try:
            await stores[i % 3].complete(job.id, f"by {i}", token=tokens[i])
        except ClaimLost:
            return
        won.append(tokens[i])

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(complete, i)
    assert won == [tokens[5]]
    assert (await stores[0].get(job.id)).result == "by 5"


async def test_renew_with_a_token_extends_only_the_current_claim(leasing_store: Any) -> None:
    await leasing_store.add(Job())
    job = await leasing_store.claim_next("w1", 0.05)
    stale = job.token
    await anyio.sleep(0.15)
    assert await leasing_store.requeue_expired() == 1
    assert await leasing_store.renew(job.id, stale, 60.0) is False  # pending now
    again = await leasing_store.claim_next("w1", 1.0)  # the same worker, attempt 2
    assert again.token == ClaimToken("w1", 2)
    assert await leasing_store.renew(job.id, stale, 60.0) is False
    assert await leasing_store.renew(job.id, again.token, 60.0) is True
    assert (await leasing_store.get(job.id)).lease_expires > again.lease_expires + 50
    with pytest.raises(ClaimLost):
        await leasing_store.complete(job.id, token=stale)
    await leasing_store.complete(job.id, token=again.token)
