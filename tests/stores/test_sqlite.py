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
