"""SQLite specifics: jobs survive a restart; the file is shared safely between processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobsim import Job, JobStatus
from jobsim.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.anyio


async def test_jobs_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)
    done, pending = Job(payload={"k": 1}), Job(payload={"k": 2})
    await store.add(done)
    await store.add(pending)
    await store.claim(done.id, "w")
    await store.complete(done.id, [1, 2])
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await store.get(done.id)

    reopened = await SQLiteJobStore.open(path)
    try:
        assert (await reopened.get(done.id)).result == [1, 2]
        assert (await reopened.get(pending.id)).payload == {"k": 2}
        assert (await reopened.counts())[JobStatus.PENDING] == 1
    finally:
        await reopened.close()


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    SQLiteJobStore(tmp_path / "jobs.db")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys;"
            "print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode').fetchone()[0])",
            str(tmp_path / "jobs.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "wal"


async def test_add_many_is_all_or_nothing(tmp_path: Path) -> None:
    from jobsim.domain import DuplicateJob

    store = await SQLiteJobStore.open(tmp_path / "jobs.db")
    try:
        await store.add(Job(id="taken"))
        with pytest.raises(DuplicateJob, match="taken"):
            await store.add_many([Job(id="a"), Job(id="taken"), Job(id="b")])
        assert [j.id for j in await store.list()] == ["taken"]
        await store.add_many([Job(id="a"), Job(id="b")])
        assert len(await store.list()) == 3
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["removed", "replaced"])
async def test_a_removed_or_replaced_file_stops_the_store(tmp_path: Path, how: str) -> None:
    from jobsim.stores import StoreUnavailable

    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)
    try:
        job = await store.add(Job())
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"jobs.db{suffix}").unlink(missing_ok=True)
        if how == "replaced":
            other = await SQLiteJobStore.open(tmp_path / "other.db")
            await other.close()
            (tmp_path / "other.db").rename(path)
        for call in (store.get(job.id), store.add(Job()), store.claim_next("w", 5.0)):
            with pytest.raises(StoreUnavailable, match=f"was {how}"):
                await call
    finally:
        await store.close()


async def test_another_stores_job_past_its_ttl_is_never_claimed_and_marked_within_the_sweep(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    adder, claimer = await SQLiteJobStore.open(path), await SQLiteJobStore.open(path)
    try:
        assert await claimer.claim_next("w", 30.0, at=0.0) is None  # its first claim sweeps
        stale = await adder.add(Job(type="stale", priority=9, ttl=1.0), at=0.0)
        fresh = await adder.add(Job(type="fresh"), at=0.0)
        claimer.SWEEP_EVERY = 3600.0  # type: ignore[misc]  # the next claims skip the sweep
        got = await claimer.claim_next("w", 30.0, at=5.0)
        assert got is not None and got.id == fresh.id  # the stale job is skipped...
        assert (await claimer.get(stale.id)).status is JobStatus.PENDING  # ...not yet marked
        assert await claimer.claim_next("w", 30.0, at=5.0) is None
        claimer.SWEEP_EVERY = 0.0  # type: ignore[misc]  # the sweep is due again
        assert await claimer.claim_next("w", 30.0, at=6.0) is None
        got = await claimer.get(stale.id)
        assert (got.status, got.finished, got.attempts) == (JobStatus.EXPIRED, 6.0, 0)
    finally:
        await adder.close()
        await claimer.close()
