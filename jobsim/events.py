"""What a pool reports as it works: the trace events, defined once.

A pool calls its tracer as ``tracer(event, time, job_id, worker_id)`` on its hot path, so the
call is a plain function call with a :class:`TraceEvent` member: a ``str`` subclass that
compares and hashes as its value (``TraceEvent.STARTED == "started"``), so recorded traces
read as plain strings in pandas and in logs. Leaf module: standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["ATTEMPT_ENDS", "FINAL_EVENTS", "WORKER_EVENTS", "TraceEvent", "Tracer"]


class TraceEvent(StrEnum):
    """One step in a job's (or a worker's) life, as the pool's tracer sees it."""

    QUEUED = "queued"  #: delivered to the dispatch, waiting for a worker
    TAKEN = "taken"  #: a worker took it off the dispatch
    SKIPPED = "skipped"  #: the claim lost: a duplicate delivery
    STARTED = "started"  #: claimed; the handler starts
    COMPLETED = "completed"
    FAILED = "failed"  #: failed for good (last attempt)
    RETRYING = "retrying"  #: the attempt failed; another will follow
    CANCELLED = "cancelled"
    RELEASED = "released"  #: interrupted by shutdown, back to pending
    EXPIRED = "expired"  #: its ttl passed before it started: it never runs
    WORKER_STARTED = "worker-started"  #: a worker began taking jobs (job_id is "")
    WORKER_STOPPED = "worker-stopped"  #: a worker exited (job_id is "")

    # Hash as the plain string (Enum hashes its name): plain-string lookups find members.
    __hash__ = str.__hash__


#: Events after which a job never runs again.
FINAL_EVENTS = frozenset(
    {TraceEvent.COMPLETED, TraceEvent.FAILED, TraceEvent.CANCELLED, TraceEvent.EXPIRED}
)

#: Events that end one attempt of a job that ran.
ATTEMPT_ENDS = (
    TraceEvent.COMPLETED,
    TraceEvent.FAILED,
    TraceEvent.RETRYING,
    TraceEvent.RELEASED,
    TraceEvent.CANCELLED,
)

#: Events about workers, not jobs (their job_id is the empty string).
WORKER_EVENTS = frozenset({TraceEvent.WORKER_STARTED, TraceEvent.WORKER_STOPPED})

#: Optional observer: ``tracer(event, time, job_id, worker_id)``; ``worker_id`` is None for
#: events outside a worker (queued, a cancel of a pending job).
Tracer = Callable[[TraceEvent, float, str, "str | None"], None]
