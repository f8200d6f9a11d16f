"""What the SQL stores share: the column list, JSON encoding, rows -> jobs, paging checks.

Kept free of any driver import so that SQLite never pulls in psycopg and vice versa.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from jobsim.domain import TERMINAL_STATUSES, Job, JobStatus

logger = logging.getLogger("jobsim.stores")

#: Columns in the order every ``SELECT``/``RETURNING`` of the SQL stores lists them.
COLUMNS = (
    "id",
    "type",
    "payload",
    "status",
    "attempts",
    "max_attempts",
    "timeout",
    "priority",
    "ttl",
    "worker_id",
    "created",
    "started",
    "finished",
    "result",
    "error",
    "lease_expires",
)
COLUMN_LIST = ", ".join(COLUMNS)

#: Columns a schema upgrade adds to a table made before jobs had them: name -> SQL type
#: (the same text on SQLite and PostgreSQL). Existing rows get priority 0 and no ttl.
ADDED_COLUMNS = {"priority": "integer NOT NULL DEFAULT 0", "ttl": "double precision"}


def not_due(now: str) -> str:
    """SQL: a pending job that may still start at ``now`` (no ttl, started before, or its
    ``created + ttl`` still ahead). A job past it is never claimed: it ends ``expired``."""
    return f"(ttl IS NULL OR attempts > 0 OR created + ttl > {now})"


def due(now: str) -> str:
    """SQL: a pending job whose ttl passed before it ever started (the complement of
    :func:`not_due` among pending jobs, written so the expiry index serves it)."""
    return f"(ttl IS NOT NULL AND created + ttl <= {now} AND attempts = 0)"


_STATUS = {s.value: s for s in JobStatus}

#: ``json.dumps(value, separators=(",", ":"))``, the same text, without making a new encoder
#: on every call (``dumps`` builds one whenever an option differs from its defaults): two
#: encodes per job on the SQL stores' hot path (the payload, the result).
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def encode_payload(job: Job) -> str:
    """The payload as JSON text; a clear ``TypeError`` when it is not JSON-able."""
    try:
        return _compact_json(job.payload)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"job {job.id!r}: payload must be JSON-serialisable for a SQL store ({exc})"
        ) from None


def encode_result(job_id: str, result: Any) -> str | None:
    """A handler's result as JSON text. Values JSON cannot hold are stored as their
    ``repr`` string (with a warning) rather than failing a job that did its work."""
    if result is None:
        return None
    try:
        return _compact_json(result)
    except (TypeError, ValueError):
        logger.warning(
            "job %s: result of type %s is not JSON-serialisable; storing its repr",
            job_id,
            type(result).__name__,
        )
        return json.dumps(repr(result))


def job_to_row(job: Job) -> tuple[Any, ...]:
    """The job as a row in :data:`COLUMNS` order, payload and result as JSON text."""
    return (
        job.id,
        job.type,
        encode_payload(job),
        job.status.value,
        job.attempts,
        job.max_attempts,
        job.timeout,
        job.priority,
        job.ttl,
        job.worker_id,
        job.created,
        job.started,
        job.finished,
        encode_result(job.id, job.result),
        job.error,
        job.lease_expires,
    )


def rows_for_insert(
    jobs: Iterable[Job], at: float | None
) -> tuple[list[Job], list[tuple[Any, ...]]]:
    """Stamp ``created`` (``at``, else now) on jobs that have none; return them and their rows."""
    batch = list(jobs)
    when = time.time() if at is None else at
    for job in batch:
        if job.created is None:
            job.created = when
    return batch, [job_to_row(job) for job in batch]


def decode(text: Any) -> Any:
    """JSON text back to a value (psycopg already decodes ``jsonb``: pass those through)."""
    if text is None or not isinstance(text, str | bytes):
        return text
    return json.loads(text)


def row_to_job(row: Sequence[Any], json_decoded: bool = False) -> Job:
    """Build a :class:`Job` from a row in :data:`COLUMNS` order.

    ``json_decoded``: the driver already decoded payload and result (psycopg with ``jsonb``);
    decoding again would turn a string result into a JSON parse error.
    """
    (
        id_,
        type_,
        payload,
        status,
        attempts,
        max_attempts,
        timeout,
        priority,
        ttl,
        worker_id,
        created,
        started,
        finished,
        result,
        error,
        lease_expires,
    ) = row
    return Job(
        id=id_,
        type=type_,
        payload=payload if json_decoded else decode(payload),
        status=_STATUS[status],
        attempts=attempts,
        max_attempts=max_attempts,
        timeout=timeout,
        priority=priority,
        ttl=ttl,
        worker_id=worker_id,
        created=created,
        started=started,
        finished=finished,
        result=result if json_decoded else decode(result),
        error=error,
        lease_expires=lease_expires,
    )


def check_page(limit: int | None, offset: int) -> None:
    """Validate ``list`` paging arguments with the same messages as the in-memory store."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


def purge_sql(
    table: str, mark: str, keep: int | None, cutoff: float | None
) -> tuple[str, tuple[Any, ...]] | None:
    """The ``DELETE`` behind ``purge_finished`` (``mark``: the driver's placeholder), or None
    when there is nothing to bound."""
    finished = "status IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(TERMINAL_STATUSES)))
    bounds: list[str] = []
    params: list[Any] = []
    if cutoff is not None:
        bounds.append(f"finished < {mark}")
        params.append(cutoff)
    if keep is not None:
        newest = (
            f"SELECT seq FROM {table} WHERE {finished} "
            f"ORDER BY finished DESC, seq DESC LIMIT {mark}"
        )
        bounds.append(f"seq NOT IN ({newest})")
        params.append(keep)
    if not bounds:
        return None
    return f"DELETE FROM {table} WHERE {finished} AND ({' OR '.join(bounds)})", tuple(params)
