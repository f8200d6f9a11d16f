"""The statements both SQL stores run, written once: SQLite and PostgreSQL differ only in the
placeholder (``?`` or ``%s``), the table name, and the few places named by :func:`statements`'s
arguments (how a lease's end is computed, when a lapsed lease may be requeued)."""

from __future__ import annotations

from dataclasses import dataclass

from jobsim.stores._sql import COLUMN_LIST, COLUMNS, due, not_due

__all__ = ["Statements", "statements"]


@dataclass(frozen=True)
class Statements:
    """One dialect's statements for one table (``mark``: the driver's placeholder)."""

    table: str
    mark: str
    insert: str
    get: str
    ended: str  # (status, finished): whether a cancel already went through
    holder: str  # (status, worker_id, attempts): who holds a claim, for a refusal's message
    claimed: str  # (status, worker_id, started): whether a claim already went through
    list_all: str
    list_status: str
    counts: str
    claim: str  # params: worker_id, started, job_id, started
    expire_one: str  # params: finished, job_id, now
    expire_due: str  # params: finished, now
    complete: str  # params: result, finished, job_id
    fail: str  # params: error, finished, job_id
    release: str  # params: error, job_id
    fence: str  # appended to an outcome's or a renewal's WHERE: the claim token
    cancel: str  # params: finished, job_id
    renew: str  # params: the lease's end (see ``lease_until``), job_id, worker_id
    requeue: str  # params: see ``lapsed``


def statements(
    table: str, mark: str, *, lease_until: str, lapsed: str, expiry_index: str = ""
) -> Statements:
    """Build the statements for ``table`` with placeholder ``mark``.

    ``lease_until``: SQL for a renewed lease's end from its one parameter; ``lapsed``: SQL
    (after ``lease_expires <``) for "now, and requeueing is allowed"; ``expiry_index``: a hint
    after the table name of the sweep of jobs past their ttl (SQLite's ``INDEXED BY``).
    """
    t, m = table, mark
    select = f"SELECT {COLUMN_LIST} FROM {t}"
    processing = f"WHERE id = {m} AND status = 'processing'"
    expired = f"SET status = 'expired', finished = {m}, lease_expires = NULL"
    return Statements(
        table=t,
        mark=m,
        insert=f"INSERT INTO {t} ({COLUMN_LIST}) VALUES ({', '.join([m] * len(COLUMNS))})",
        get=f"{select} WHERE id = {m}",
        ended=f"SELECT status, finished FROM {t} WHERE id = {m}",
        holder=f"SELECT status, worker_id, attempts FROM {t} WHERE id = {m}",
        claimed=f"SELECT status, worker_id, started FROM {t} WHERE id = {m}",
        list_all=f"{select} ORDER BY seq LIMIT {m} OFFSET {m}",
        list_status=f"{select} WHERE status = {m} ORDER BY seq LIMIT {m} OFFSET {m}",
        counts=f"SELECT status, COUNT(*) FROM {t} GROUP BY status",
        claim=f"UPDATE {t} SET status = 'processing', worker_id = {m}, "
        f"attempts = attempts + 1, started = {m}, finished = NULL "
        f"WHERE id = {m} AND status = 'pending' AND {not_due(m)} RETURNING id",
        expire_one=f"UPDATE {t} {expired} WHERE id = {m} AND status = 'pending' AND {due(m)}",
        expire_due=f"UPDATE {t}{expiry_index} {expired} WHERE status = 'pending' AND {due(m)}",
        complete=f"UPDATE {t} SET status = 'completed', result = {m}, error = NULL, "
        f"finished = {m}, lease_expires = NULL {processing}",
        fail=f"UPDATE {t} SET status = 'failed', error = {m}, finished = {m}, "
        f"lease_expires = NULL {processing}",
        release=f"UPDATE {t} SET status = 'pending', error = COALESCE({m}, error), "
        f"lease_expires = NULL {processing}",
        fence=f" AND worker_id = {m} AND attempts = {m}",
        cancel=f"UPDATE {t} SET status = 'cancelled', finished = {m}, lease_expires = NULL "
        f"WHERE id = {m} AND status IN ('pending', 'processing')",
        renew=f"UPDATE {t} SET lease_expires = {lease_until} "
        f"WHERE id = {m} AND worker_id = {m} AND status = 'processing'",
        requeue=f"UPDATE {t} SET status = 'pending', lease_expires = NULL, "
        "error = 'lease expired (worker ' || COALESCE(worker_id, '?') || ' stopped renewing)' "
        f"WHERE status = 'processing' AND lease_expires IS NOT NULL AND lease_expires < {lapsed}",
    )
