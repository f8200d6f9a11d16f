"""The store contract: every JobStore behaves the same (memory, SQLite, PostgreSQL).

Runs on asyncio and trio. The atomicity test is checked against its negative control:
``RacyStore`` (check, checkpoint, set) must fail it.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from jobsim import Job, JobStatus, RacyStore
from jobsim.domain import DuplicateJob, InvalidTransition, JobNotFound
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio

P, R, C, F, X, E = (
    JobStatus.PENDING,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.EXPIRED,
)


async def test_add_then_get_round_trips_every_field(store: JobStore) -> None:
    job = Job(type="email", payload={"to": "a@example.com", "n": [1, 2.5, None]}, max_attempts=3)
    job.timeout = 2.5
    returned = await store.add(job, at=100.0)
    assert returned.id == job.id and returned.created == 100.0
    got = await store.get(job.id)
    assert got.to_dict() == {
        **Job(type="email", id=job.id).to_dict(),
        "payload": {"to": "a@example.com", "n": [1, 2.5, None]},
        "max_attempts": 3,
        "timeout": 2.5,
        "created": 100.0,
    }


async def test_add_keeps_an_existing_created_time(store: JobStore) -> None:
    job = Job(created=5.0)
    await store.add(job, at=100.0)
    assert (await store.get(job.id)).created == 5.0


async def test_get_unknown_id_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound, match="nope"):
        await store.get("nope")


async def test_adding_an_id_twice_raises_duplicate_job(store: JobStore) -> None:
    job = Job(id="same")
    await store.add(job)
    with pytest.raises(DuplicateJob, match="same"):
        await store.add(Job(id="same", type="other"))
    assert (await store.get("same")).type == "job"  # the first one is untouched


async def test_list_in_creation_order_with_filter_limit_and_offset(store: JobStore) -> None:
    jobs = [Job(type=f"t{i}") for i in range(6)]
    for i, job in enumerate(jobs):
        await store.add(job, at=float(i))
    await store.claim(jobs[1].id, "w", at=10.0)
    await store.claim(jobs[4].id, "w", at=10.0)
    ids = [j.id for j in jobs]
    assert [j.id for j in await store.list()] == ids
    assert [j.id for j in await store.list(limit=2)] == ids[:2]
    assert [j.id for j in await store.list(limit=2, offset=3)] == ids[3:5]
    assert [j.id for j in await store.list(offset=5)] == ids[5:]
    assert await store.list(limit=0) == []
    assert [j.id for j in await store.list(status="processing")] == [ids[1], ids[4]]
    assert [j.id for j in await store.list(status=P, limit=2, offset=1)] == [ids[2], ids[3]]


async def test_list_rejects_bad_arguments_with_clear_errors(store: JobStore) -> None:
    with pytest.raises(ValueError, match="unknown job status 'done'; allowed: pending"):
        await store.list(status="done")
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await store.list(limit=-1)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await store.list(offset=-1)


async def test_counts_has_every_status_and_follows_moves(store: JobStore) -> None:
    assert await store.counts() == dict.fromkeys(JobStatus, 0)
    jobs = [Job() for _ in range(5)]
    for job in jobs:
        await store.add(job)
    for job in jobs[:4]:
        assert await store.claim(job.id, "w")
    await store.complete(jobs[0].id, "ok")
    await store.fail(jobs[1].id, "boom")
    await store.release(jobs[2].id)
    await store.cancel(jobs[3].id)
    assert await store.counts() == {P: 2, R: 0, C: 1, F: 1, X: 1, E: 0}


async def test_claim_wins_once_and_records_the_attempt(store: JobStore) -> None:
    job = await store.add(Job(), at=1.0)
    assert await store.claim(job.id, "worker-1", at=2.0) is True
    assert await store.claim(job.id, "worker-2", at=3.0) is False
    got = await store.get(job.id)
    assert (got.status, got.worker_id, got.attempts, got.started) == (R, "worker-1", 1, 2.0)


async def test_claim_unknown_id_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.claim("missing", "w")


async def test_complete_stores_the_result(store: JobStore) -> None:
    job = await store.add(Job())
    await store.claim(job.id, "w", at=1.0)
    await store.complete(job.id, {"sent": True, "n": 3}, at=4.0)
    got = await store.get(job.id)
    assert (got.status, got.result, got.finished, got.error) == (
        C,
        {"sent": True, "n": 3},
        4.0,
        None,
    )


async def test_every_json_result_round_trips(store: JobStore) -> None:
    for result in ["a string", 7, 2.5, True, None, [1, "x"], {"k": [None]}]:
        job = await store.add(Job())
        await store.claim(job.id, "w")
        await store.complete(job.id, result)
        assert (await store.get(job.id)).result == result, result


async def test_fail_stores_the_error(store: JobStore) -> None:
    job = await store.add(Job())
    await store.claim(job.id, "w")
    await store.fail(job.id, "ValueError: bad", at=7.0)
    got = await store.get(job.id)
    assert (got.status, got.error, got.finished) == (F, "ValueError: bad", 7.0)


async def test_release_returns_the_job_to_pending_and_the_next_claim_counts(
    store: JobStore,
) -> None:
    job = await store.add(Job())
    await store.claim(job.id, "w1")
    await store.release(job.id, "interrupted")
    got = await store.get(job.id)
    assert (got.status, got.error, got.attempts) == (P, "interrupted", 1)
    assert await store.claim(job.id, "w2")
    got = await store.get(job.id)
    assert (got.attempts, got.worker_id) == (2, "w2")


async def test_cancel_pending_and_processing_but_not_finished_jobs(store: JobStore) -> None:
    pending, running, done = Job(), Job(), Job()
    for job in (pending, running, done):
        await store.add(job)
    await store.claim(running.id, "w")
    await store.claim(done.id, "w")
    await store.complete(done.id)
    assert await store.cancel(pending.id, at=9.0) is True
    assert await store.cancel(running.id) is True
    assert await store.cancel(done.id) is False
    assert await store.cancel(pending.id) is False  # already cancelled: final
    assert (await store.get(pending.id)).status is X
    assert (await store.get(pending.id)).finished == 9.0
    assert (await store.get(done.id)).status is C
    assert await store.claim(pending.id, "w") is False  # a cancelled job never runs


async def test_cancel_unknown_id_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.cancel("missing")


async def _job_in(store: JobStore, status: JobStatus) -> Job:
    job = await store.add(Job(ttl=1.0) if status is E else Job(), at=0.0)
    if status is E:
        assert await store.claim(job.id, "w", at=5.0) is False
        return job
    if status is P:
        return job
    await store.claim(job.id, "w")
    if status is C:
        await store.complete(job.id)
    elif status is F:
        await store.fail(job.id, "x")
    elif status is X:
        await store.cancel(job.id)
    return job


MOVES = {"complete": C, "fail": F, "release": P}


async def _move(store: JobStore, move: str, job_id: str) -> None:
    if move == "complete":
        await store.complete(job_id, "r")
    elif move == "fail":
        await store.fail(job_id, "e")
    else:
        await store.release(job_id)


async def test_illegal_moves_raise_invalid_transition_and_change_nothing(
    store: JobStore,
) -> None:
    # Every move out of a status that does not allow it (one job per case, one store).
    for start in (P, C, F, X, E):
        for move, new in MOVES.items():
            job = await _job_in(store, start)
            with pytest.raises(InvalidTransition) as caught:
                await _move(store, move, job.id)
            assert (caught.value.old, caught.value.new) == (start, new)
            assert start.value in str(caught.value) and new.value in str(caught.value)
            assert (await store.get(job.id)).status is start


async def test_moves_on_an_unknown_id_raise_job_not_found(store: JobStore) -> None:
    for move in MOVES:
        with pytest.raises(JobNotFound):
            await _move(store, move, "missing")


def test_non_json_payload_is_refused_when_the_job_is_made() -> None:
    """Every store keeps the same payloads: the rule is checked by Job itself (see
    test_payload_rule.py), so no store ever sees a payload JSON cannot hold."""
    with pytest.raises(TypeError, match=r"Job.payload\['when'\] holds an object"):
        Job(payload={"when": object()})


# -- atomicity ---------------------------------------------------------------------------------


async def race_claims(stores: list[Any], job_id: str, claimers: int) -> list[str]:
    """``claimers`` tasks claim the same job at once (spread over ``stores``, i.e. over
    connections); returns the winners."""
    winners: list[str] = []
    start = anyio.Event()

    async def claimer(i: int) -> None:
        await start.wait()
        if await stores[i % len(stores)].claim(job_id, f"w{i}"):
            winners.append(f"w{i}")

    async with anyio.create_task_group() as tg:
        for i in range(claimers):
            tg.start_soon(claimer, i)
        await anyio.lowlevel.checkpoint()
        start.set()
    return winners


async def test_many_concurrent_claimers_of_one_job_exactly_one_wins(
    store_factory: Any,
) -> None:
    stores = [await store_factory.open() for _ in range(4)]  # 4 connections to the same data
    for round_ in range(5):
        job = await stores[0].add(Job(type=f"race{round_}"))
        winners = await race_claims(stores, job.id, claimers=24)
        assert len(winners) == 1, f"round {round_}: {len(winners)} claimers won: {winners}"
        got = await stores[0].get(job.id)
        assert (got.attempts, got.worker_id) == (1, winners[0])


async def test_the_atomicity_check_catches_racy_store() -> None:
    """The negative control: the same check must fail on a check-then-set claim."""
    store = RacyStore()
    job = await store.add(Job())
    winners = await race_claims([store], job.id, claimers=24)
    assert len(winners) > 1, "the atomicity test did not catch RacyStore"
    assert (await store.get(job.id)).attempts == len(winners)
