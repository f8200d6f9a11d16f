"""A database made before jobs had priorities and ttls opens with today's code: the missing
columns are added, every job is kept (priority 0, no ttl) and can be claimed."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import anyio
import pytest

from jobsim import JobStatus
from jobsim.stores.postgres import PostgresJobStore
from jobsim.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.anyio

# The table as the previous release created it (columns in its order, no priority, no ttl).
OLD_COLUMNS = """
    id            text      NOT NULL UNIQUE,
    type          text      NOT NULL,
    payload       {json}    NOT NULL,
    status        text      NOT NULL,
    attempts      integer   NOT NULL DEFAULT 0,
    max_attempts  integer   NOT NULL DEFAULT 1,
    timeout       double precision,
    worker_id     text,
    created       double precision,
    started       double precision,
    finished      double precision,
    result        {json},
    error         text,
    lease_expires double precision
"""
OLD_ROWS = [  # id, type, payload, status, attempts, created, result
    ("old-done", "email", '{"to": "a"}', "completed", 1, 1.0, '"sent"'),
    ("old-1", "email", '{"to": "b"}', "pending", 0, 2.0, None),
    ("old-2", "report", '{"n": 3}', "pending", 0, 3.0, None),
]
INSERT = (
    "INSERT INTO {table} (id, type, payload, status, attempts, created, result) VALUES ({marks})"
)


async def _check_upgraded(store: SQLiteJobStore | PostgresJobStore) -> None:
    done = await store.get("old-done")
    assert (done.status, done.payload, done.result, done.priority, done.ttl) == (
        JobStatus.COMPLETED,
        {"to": "a"},
        "sent",
        0,
        None,
    )
    claimed = await store.claim_next("w", 30.0)
    assert claimed is not None and (claimed.id, claimed.payload) == ("old-1", {"to": "b"})
    assert await store.claim("old-2", "w")
    counts = await store.counts()
    assert (counts[JobStatus.PROCESSING], counts[JobStatus.COMPLETED]) == (2, 1)


async def test_an_old_sqlite_file_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY, " + OLD_COLUMNS.format(json="text") + ")"
    )
    conn.execute("CREATE INDEX jobs_pending ON jobs (seq) WHERE status = 'pending'")
    conn.executemany(INSERT.format(table="jobs", marks=", ".join("?" * 7)), OLD_ROWS)
    conn.commit()
    conn.close()

    store = await SQLiteJobStore.open(path)
    try:
        await _check_upgraded(store)
    finally:
        await store.close()
    again = await SQLiteJobStore.open(path)  # a second open finds nothing to add
    try:
        assert len(await again.list()) == 3
    finally:
        await again.close()


async def test_an_old_postgresql_table_keeps_its_jobs(
    postgres_url: str, anyio_backend: str
) -> None:
    import psycopg

    table = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (seq bigserial PRIMARY KEY, "
            + OLD_COLUMNS.format(json="jsonb")
            + ")"
        )
        conn.execute(f"CREATE INDEX {table}_pending ON {table} (seq) WHERE status = 'pending'")
        conn.cursor().executemany(INSERT.format(table=table, marks=", ".join(["%s"] * 7)), OLD_ROWS)

    store = await PostgresJobStore.connect(postgres_url, table=table)
    try:
        await _check_upgraded(store)
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)
            )
        }
    assert f"{table}_next" in indexes and f"{table}_pending" not in indexes


def test_sqlite_finds_the_next_job_and_the_expired_ones_through_indexes(tmp_path: Path) -> None:
    from jobsim.stores.sqlite import CLAIM_NEXT_SQL, EXPIRE_DUE_SQL, connect

    conn = connect(tmp_path / "plan.db")
    plans = {
        name: " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        for name, sql, params in [
            ("next", CLAIM_NEXT_SQL, ("w", 1.0, 2.0, 1.0)),
            ("expire", EXPIRE_DUE_SQL, (1.0, 1.0)),
        ]
    }
    conn.close()
    assert "USING INDEX jobs_next" in plans["next"] and "TEMP B-TREE" not in plans["next"]
    assert "USING INDEX jobs_expiry" in plans["expire"]


def test_postgresql_claims_the_next_job_through_the_priority_index(
    postgres_url: str, anyio_backend: str
) -> None:
    import psycopg

    from jobsim.stores.postgres import claim_next_sql

    table = f"t_{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        await (await PostgresJobStore.connect(postgres_url, table=table)).close()

    anyio.run(create, backend=anyio_backend)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # an empty table: make the planner show its index
        plan = "\n".join(
            row[0] for row in conn.execute(f"EXPLAIN {claim_next_sql(table)}", ("w", 1.0, 30.0))
        )
    assert f"Index Scan using {table}_next" in plan and "Sort" not in plan, plan
