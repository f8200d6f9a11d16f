"""The SQLite store's schema, its upgrade, its hot statements and how a connection is opened
(kept apart from :class:`~jobsim.stores.sqlite.SQLiteJobStore`, which re-exports them)."""

from __future__ import annotations

import functools
import os
import sqlite3
from operator import is_, is_not
from typing import Any

from jobsim.stores._sql import ADDED_COLUMNS, COLUMN_LIST, COLUMNS, not_due
from jobsim.stores._statements import statements

__all__ = [
    "CLAIM_NEXT_SQL",
    "CLAIM_SQL",
    "EXPIRE_DUE_SQL",
    "EXPIRE_ONE_SQL",
    "PENDING_SQL",
    "STATEMENTS",
    "connect",
    "insert_binding",
    "upgrade",
]


_TABLE = """
CREATE TABLE IF NOT EXISTS jobs (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    type          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 1,
    timeout       REAL,
    priority      INTEGER NOT NULL DEFAULT 0,
    ttl           REAL,
    worker_id     TEXT,
    created       REAL,
    started       REAL,
    finished      REAL,
    result        TEXT,
    error         TEXT,
    lease_expires REAL
);
"""

# After the table (and its upgrade): the next job is the first in (priority DESC, seq).
_INDEXES = """
DROP INDEX IF EXISTS jobs_pending;
CREATE INDEX IF NOT EXISTS jobs_next ON jobs (priority DESC, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (created + ttl)
    WHERE status = 'pending' AND ttl IS NOT NULL;
"""

#: The statements the store shares with PostgreSQL, in SQLite's dialect (leases and their
#: lapse on the host's wall clock, given as a parameter).
STATEMENTS = statements(
    "jobs", "?", lease_until="?", lapsed="?", expiry_index=" INDEXED BY jobs_expiry"
)
_INSERT = STATEMENTS.insert
_is_none = functools.partial(is_, None)
_is_not_none = functools.partial(is_not, None)
_INSERTS: dict[bytes, str] = {}  # which columns are NULL (a byte each) -> the INSERT


def insert_binding(row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The ``INSERT`` of ``row`` (in :data:`~jobsim.stores._sql.COLUMNS` order) with ``NULL``
    written in where it holds ``None``, and the values left to bind.

    Python's ``sqlite3`` binds ``None`` the slow way: it looks for an adapter, then asks the
    object to ``__conform__``, which raises and clears an ``AttributeError`` (several times
    the cost of binding a string), and a new job has eight ``None`` fields. The statements
    differ only by which columns are ``NULL``: a handful in practice, each prepared once.
    """
    nulls = bytes(map(_is_none, row))
    sql = _INSERTS.get(nulls)
    if sql is None:
        sql = _insert_with_nulls(nulls)
        if len(_INSERTS) < 64:
            _INSERTS[nulls] = sql
    return sql, tuple(filter(_is_not_none, row))


def _insert_with_nulls(nulls: bytes) -> str:
    values = ", ".join("NULL" if null else "?" for null in nulls)
    return f"INSERT INTO jobs ({COLUMN_LIST}) VALUES ({values})"


assert _insert_with_nulls(bytes(len(COLUMNS))) == _INSERT, "the shared INSERT, NULL-free"

#: The claim, exactly as :mod:`benchmarks.stores` runs it raw (params: worker_id, started,
#: job_id, started). A job past its ttl is not claimed (see :data:`EXPIRE_ONE_SQL`).
CLAIM_SQL = STATEMENTS.claim

#: A claim that found its job past its ttl marks it expired (same transaction).
EXPIRE_ONE_SQL = STATEMENTS.expire_one

#: Before ``claim_next`` picks a job (same trip to the database thread; when a job may be
#: due, see :meth:`~jobsim.stores.SQLiteJobStore.claim_next`): every pending job past its ttl
#: ends expired (params: finished, now). Served by the ``jobs_expiry`` index: free when no
#: pending job has a ttl.
EXPIRE_DUE_SQL = STATEMENTS.expire_due

#: How many jobs are pending (up to 256: enough to wake that many idle workers).
PENDING_SQL = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'pending' LIMIT 256)"

#: Claim the next pending job, highest priority first, then the oldest (params: worker_id,
#: started, lease_expires, started), as :mod:`benchmarks.stores` runs it raw. The store runs
#: :data:`EXPIRE_DUE_SQL` first; the condition here keeps an expired job unclaimed anyway.
CLAIM_NEXT_SQL = (
    "UPDATE jobs SET status = 'processing', worker_id = ?, attempts = attempts + 1, "
    "started = ?, finished = NULL, lease_expires = ? "
    "WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_next WHERE status = 'pending' "
    f"AND {not_due('?')} ORDER BY priority DESC, seq LIMIT 1) "
    f"AND status = 'pending' RETURNING {COLUMN_LIST}"
)


def connect(path: str | os.PathLike[str], busy_timeout: float = 30.0) -> sqlite3.Connection:
    """Open ``path`` the way the store does: autocommit, WAL, ``busy_timeout``, schema present."""
    conn = sqlite3.connect(
        os.fspath(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
    conn.executescript(_TABLE)
    upgrade(conn)
    conn.executescript(_INDEXES)
    return conn


def upgrade(conn: sqlite3.Connection) -> list[str]:
    """Add the columns a file made by an older jobsim lacks (its jobs stay, with priority 0
    and no ttl); returns the names added. One write transaction, so processes opening the
    same old file at once add each column once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        added = [name for name in ADDED_COLUMNS if name not in have]
        for name in added:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {ADDED_COLUMNS[name]}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return added
