"""The PostgreSQL store's schema (table, indexes, the notify trigger), its claim statement and
its dialect of the statements shared with SQLite, per table name (kept apart from
:class:`~jobsim.stores.postgres.PostgresJobStore`, which re-exports the first two)."""

from __future__ import annotations

import re

from jobsim.stores._sql import (
    ADDED_COLUMNS,
    COLUMNS,
    due,
    not_due,
)
from jobsim.stores._statements import Statements, statements

__all__ = ["claim_next_sql", "pg_statements", "same_job_sql", "schema_sql"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
_NOW = "extract(epoch from clock_timestamp())"


def schema_sql(table: str) -> str:
    """The idempotent DDL for ``table`` (and its indexes, notify function and trigger); it
    also upgrades a table made by an older jobsim (adds the missing columns, keeps the jobs)."""
    added = ", ".join(
        f"ADD COLUMN IF NOT EXISTS {name} {sql_type}" for name, sql_type in ADDED_COLUMNS.items()
    )
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    seq           bigserial PRIMARY KEY,
    id            text      NOT NULL UNIQUE,
    type          text      NOT NULL,
    payload       jsonb     NOT NULL,
    status        text      NOT NULL,
    attempts      integer   NOT NULL DEFAULT 0,
    max_attempts  integer   NOT NULL DEFAULT 1,
    timeout       double precision,
    priority      integer   NOT NULL DEFAULT 0,
    ttl           double precision,
    worker_id     text,
    created       double precision,
    started       double precision,
    finished      double precision,
    result        jsonb,
    error         text,
    lease_expires double precision
);
ALTER TABLE {table} {added};
DROP INDEX IF EXISTS {table}_pending;
CREATE INDEX IF NOT EXISTS {table}_next ON {table} (priority DESC, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS {table}_expiry ON {table} ((created + ttl))
    WHERE status = 'pending' AND ttl IS NOT NULL;
CREATE INDEX IF NOT EXISTS {table}_status ON {table} (status, seq);
CREATE INDEX IF NOT EXISTS {table}_leases ON {table} (lease_expires) WHERE status = 'processing';
CREATE OR REPLACE FUNCTION {table}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{table}', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER {table}_pending_notify
    AFTER INSERT OR UPDATE OF status ON {table}
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION {table}_notify();
"""


def pg_statements(table: str) -> Statements:
    """The statements shared with SQLite, for ``table`` in PostgreSQL's dialect: leases on the
    server's clock (a renewal sends the lease's length), and no lapsed lease requeued until
    the server has been up ``settle`` seconds (the requeue's one parameter)."""
    return statements(
        table,
        "%s",
        lease_until=f"{_NOW} + %s::double precision",
        lapsed=f"{_NOW} AND {_NOW} - extract(epoch from pg_postmaster_start_time()) > %s",
    )


def same_job_sql(table: str) -> str:
    """Whether the row under an id is this very job (params: id, type, payload as JSON text,
    max_attempts, timeout, priority, ttl, created): how an insert retried after a dropped
    connection tells its own first try, committed but unanswered, from another job's row.
    Payloads compare as ``jsonb`` values (key order and number spelling aside)."""
    return (
        f"SELECT 1 FROM {table} WHERE id = %s AND type = %s AND payload = %s::jsonb "
        "AND max_attempts = %s AND timeout IS NOT DISTINCT FROM %s AND priority = %s "
        "AND ttl IS NOT DISTINCT FROM %s AND created IS NOT DISTINCT FROM %s"
    )


def claim_next_sql(table: str) -> str:
    """Claim the next pending job, highest priority first, then the oldest (params:
    worker_id, started or None, lease seconds), in one statement that also marks every
    pending job past its ttl ``expired``. ``FOR UPDATE SKIP LOCKED`` on both: concurrent
    claimers never wait for each other's rows; the ``_next`` index serves the order."""
    t = table
    return (
        f"WITH c AS (SELECT %s::text AS worker, "
        f"COALESCE(%s::double precision, {_NOW}) AS now, %s::double precision AS lease), "
        f"expired AS (UPDATE {t} SET status = 'expired', finished = c.now, lease_expires = NULL "
        f"FROM c WHERE {t}.seq IN (SELECT d.seq FROM {t} d, c WHERE d.status = 'pending' "
        f"AND {due('c.now')} FOR UPDATE OF d SKIP LOCKED) RETURNING {t}.seq) "
        f"UPDATE {t} SET status = 'processing', worker_id = c.worker, attempts = attempts + 1, "
        f"started = c.now, finished = NULL, lease_expires = {_NOW} + c.lease FROM c "
        f"WHERE {t}.seq = (SELECT n.seq FROM {t} n, c WHERE n.status = 'pending' "
        f"AND {not_due('c.now')} ORDER BY n.priority DESC, n.seq LIMIT 1 "
        f"FOR UPDATE OF n SKIP LOCKED) RETURNING {_qualified(t)}"
    )


def _qualified(table: str) -> str:
    return ", ".join(f"{table}.{column}" for column in COLUMNS)
