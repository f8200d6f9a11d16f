"""The SQLite store writes a job's ``None`` fields as ``NULL`` literals in its ``INSERT`` (the
``sqlite3`` module binds ``None`` slowly): the statement differs, the stored job does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobsim import Job
from jobsim.stores._sql import COLUMNS, job_to_row
from jobsim.stores._sqlite_schema import STATEMENTS, insert_binding
from jobsim.stores.sqlite import SQLiteJobStore


def test_none_fields_are_written_in_not_bound() -> None:
    row = job_to_row(Job(type="email", payload={"to": "a@b"}, created=1.0))
    sql, values = insert_binding(row)
    nulls = [column for column, value in zip(COLUMNS, row, strict=True) if value is None]
    assert len(nulls) == 8  # a new job: timeout, ttl, worker, started, finished, ...
    assert sql.count("NULL") == len(nulls) and sql.count("?") == len(COLUMNS) - len(nulls)
    assert values == tuple(value for value in row if value is not None)
    full = tuple(range(len(COLUMNS)))  # nothing None: the shared statement, every value bound
    assert insert_binding(full) == (STATEMENTS.insert, full)


@pytest.mark.anyio
async def test_jobs_with_and_without_optional_fields_read_back_the_same(tmp_path: Path) -> None:
    jobs = [
        Job(type="plain", payload={"i": 1}),
        Job(type="full", payload={}, timeout=2.5, ttl=60.0, priority=-3, max_attempts=4),
        Job(type="ttl-only", payload={"s": "x"}, ttl=0.5),
    ]
    store = await SQLiteJobStore.open(tmp_path / "jobs.db")
    try:
        for job in jobs:
            await store.add(job, at=100.0)
        for job in jobs:
            assert job_to_row(await store.get(job.id)) == job_to_row(job)
    finally:
        await store.close()
