"""The job, its statuses, the legal moves between them, and the errors users can meet.

Everything else in jobsim builds on this module and it imports nothing heavier than the
standard library: it sits on the pool's hot path.

A job's life::

    pending ──claim──> processing ──> completed
       │  ^                 │  └────> failed
       │  └──retry/lease────┘  └────> cancelled   (cooperative cancel of a running job)
       ├──cancel──> cancelled
       └──ttl passed before its first start──> expired

Any other move raises :class:`InvalidTransition`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from jobsim import ids as _ids
from jobsim.errors import DuplicateJob, JobNotFound, JobsimError, PoolClosed
from jobsim.ids import new_job_id
from jobsim.payload import (
    CHECKED_TYPES,
    MAX_NAME_LENGTH,
    PRIORITY_RANGE,
    check_name,
    check_payload,
    check_priority,
    check_ttl,
    check_type,
)

__all__ = [
    "PRIORITY_RANGE",
    "SOURCES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "ClaimLost",
    "ClaimToken",
    "DuplicateJob",
    "InvalidTransition",
    "Job",
    "JobNotFound",
    "JobStatus",
    "JobsimError",
    "PoolClosed",
    "check_priority",
    "check_transition",
    "check_ttl",
    "new_job_id",
]


class JobStatus(StrEnum):
    """Where a job is in its life. String-valued, so it serialises as ``"pending"`` etc."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    # Hash as the plain string (Enum hashes its name in Python code): status lookups sit on
    # the pool's hot path, and plain-string keys then find members too.
    __hash__ = str.__hash__


_P, _R, _C, _F, _X, _E = (
    JobStatus.PENDING,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.EXPIRED,
)

#: The legal moves: ``TRANSITIONS[old]`` is the set of statuses ``old`` may move to.
TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    _P: frozenset({_R, _X, _E}),  # claim; cancel before it ran; its ttl passed unstarted
    _R: frozenset({_C, _F, _P, _X}),  # done; failed; retry or lease expiry; cancelled while running
    _C: frozenset(),
    _F: frozenset(),
    _X: frozenset(),
    _E: frozenset(),
}

#: The inverse: ``SOURCES[new]`` is the set of statuses that may move to ``new``.
SOURCES: Mapping[JobStatus, frozenset[JobStatus]] = {
    new: frozenset(old for old, targets in TRANSITIONS.items() if new in targets)
    for new in JobStatus
}

_INTO_R, _INTO_C, _INTO_F, _INTO_P, _INTO_X = (SOURCES[s] for s in (_R, _C, _F, _P, _X))

#: Statuses a job never leaves.
TERMINAL_STATUSES: frozenset[JobStatus] = frozenset({_C, _F, _X, _E})


class InvalidTransition(JobsimError, ValueError):
    """A job was asked to move between two statuses that are not connected."""

    def __init__(self, job_id: str, old: JobStatus | str, new: JobStatus | str) -> None:
        self.job_id, self.old, self.new = job_id, JobStatus(old), JobStatus(new)
        allowed = ", ".join(sorted(TRANSITIONS[self.old])) or "nothing (it is final)"
        super().__init__(
            f"job {job_id!r} cannot move from {self.old.value!r} to {self.new.value!r}; "
            f"from {self.old.value!r} it may move to: {allowed}"
        )


class ClaimToken(NamedTuple):
    """Who holds a claim: the worker and the attempt it claimed (``Job.token``).

    The attempt number grows with every claim of a job, so a token names one claim exactly:
    after a lease lapsed and another worker claimed the job, the old holder's token no longer
    matches and the store refuses its outcome (fencing).
    """

    worker_id: str
    attempt: int


class ClaimLost(InvalidTransition):
    """A worker wrote the outcome of a claim it no longer holds (its lease lapsed and the job
    was requeued, claimed by someone else, or cancelled). The store refused the write."""

    def __init__(
        self,
        job_id: str,
        token: ClaimToken,
        new: JobStatus | str,
        status: JobStatus | str,
        holder: ClaimToken | None,
    ) -> None:
        self.job_id, self.old, self.new = job_id, JobStatus(status), JobStatus(new)
        self.token, self.holder = token, holder
        now = f"{self.old.value}"
        if self.old is JobStatus.PROCESSING and holder is not None:
            now += f" by {holder.worker_id}, attempt {holder.attempt}"
        JobsimError.__init__(
            self,
            f"job {job_id!r}: the claim of {token.worker_id} (attempt {token.attempt}) is no "
            f"longer current (the job is now {now}); its {self.new.value!r} outcome was refused",
        )


def check_transition(job_id: str, old: JobStatus, new: JobStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is a legal move."""
    if old not in SOURCES[new]:
        raise InvalidTransition(job_id, old, new)


assert -1073741823 in PRIORITY_RANGE and 1073741823 in PRIORITY_RANGE, "Job.__init__'s fast bounds"
_new = object.__new__
_EMPTY: dict[str, Any] = {}  # the default payload's marker (each job gets a fresh dict)
# The default of Job.id: "make one" (built at run time, so no literal is this very object).
_NEW_ID = "".join(("\x00", "new id"))


@dataclass(slots=True, eq=False, init=False)
class Job:
    """One unit of work.

    ``Job(type="email", payload={...})`` creates a pending job with a fresh id. The store owns
    its status from then on; the timestamps are floats on the clock of the pool that ran it
    (the event loop's clock by default, virtual in simulations).

    Attributes:
        type: what kind of work this is; handlers dispatch on it.
        payload: arguments for the handler: standard JSON (string keys, finite numbers, no
            NUL or lone surrogates; see :mod:`jobsim.payload`), checked here.
        id: unique id (generated unless given): non-empty, printable, at most 200 characters.
        status: see :class:`JobStatus`.
        attempts: how many times the job has been claimed (1 once its first run starts).
        max_attempts: how many attempts a retry policy may make before the job is dead.
        timeout: seconds one attempt may take before it fails (``None``: the pool's default).
        priority: an integer; higher runs first, FIFO within one priority (default 0).
        ttl: seconds the job may wait for its first start, counted from ``created``; a job
            not started by then is never run and ends ``expired`` (``None``: no limit). A job
            that has started once (then was retried or put back) no longer expires.
        worker_id: the worker that claimed it last.
        created, started, finished: when it was stored, last claimed, and reached an end.
        result: what the handler returned (when completed).
        error: the last error text (when an attempt failed).
        lease_expires: for shared stores, when the current claim lapses unless renewed.
    """

    type: str = "job"
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = _NEW_ID  # replaced by new_job_id() in __init__
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    max_attempts: int = 1
    timeout: float | None = None
    priority: int = 0
    ttl: float | None = None
    worker_id: str | None = None
    created: float | None = None
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: str | None = None
    lease_expires: float | None = None

    # Written out (not generated plus __post_init__): one call, no default factory, and the
    # checks ordered so that a plain job costs a few tests; every job passes through here.
    def __init__(
        self,
        type: str = "job",
        payload: dict[str, Any] = _EMPTY,
        id: str = _NEW_ID,
        status: JobStatus = _P,
        attempts: int = 0,
        max_attempts: int = 1,
        timeout: float | None = None,
        priority: int = 0,
        ttl: float | None = None,
        worker_id: str | None = None,
        created: float | None = None,
        started: float | None = None,
        finished: float | None = None,
        result: Any = None,
        error: str | None = None,
        lease_expires: float | None = None,
    ) -> None:
        if type.__class__ is not str or type not in CHECKED_TYPES:
            check_type(type)
        if id is _NEW_ID:
            id = _ids.next_id()  # new_job_id(), one call fewer: well-formed
        elif id.__class__ is not str or not 0 < len(id) <= MAX_NAME_LENGTH or not id.isprintable():
            check_name("id", id)
        if payload is _EMPTY:
            payload = {}
        elif payload.__class__ is not dict and not isinstance(payload, dict):
            raise TypeError(
                f"Job.payload must be a dict (JSON object), got {builtins.type(payload).__name__}"
            )
        elif payload:
            check_payload(payload)  # standard JSON, the same in every store (jobsim.payload)
        if status is not _P and status.__class__ is not JobStatus:
            status = JobStatus(status)
        if max_attempts != 1 and not (isinstance(max_attempts, int) and max_attempts >= 1):
            raise ValueError(f"Job.max_attempts must be an integer >= 1, got {max_attempts!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"Job.timeout must be a positive number of seconds, got {timeout!r}")
        if priority.__class__ is not int or priority < -1073741823 or priority > 1073741823:
            priority = check_priority(priority)  # one-digit ints compare fastest; the rest of
            # PRIORITY_RANGE (and everything outside it) is judged there
        if ttl is not None:
            ttl = check_ttl(ttl)
        self.type = type
        self.payload = payload
        self.id = id
        self.status = status
        self.attempts = attempts
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.priority = priority
        self.ttl = ttl
        self.worker_id = worker_id
        self.created = created
        self.started = started
        self.finished = finished
        self.result = result
        self.error = error
        self.lease_expires = lease_expires

    def _twin(self, id: str, payload: dict[str, Any]) -> Job:
        """A copy of this job with another ``id`` and ``payload``, built without ``Job()``'s
        keyword call and checks (half its cost): for a bulk maker such as the lab, which
        checks one job of each kind through ``Job()`` and makes ids and payloads well-formed
        by construction. Unchecked, hence private: the payload rule holds for every job a
        user can make."""
        job = _new(Job)
        job.type, job.payload, job.id, job.status = self.type, payload, id, self.status
        job.attempts, job.max_attempts, job.timeout = self.attempts, self.max_attempts, self.timeout
        job.priority, job.ttl, job.worker_id = self.priority, self.ttl, self.worker_id
        job.created, job.started, job.finished = self.created, self.started, self.finished
        job.result, job.error, job.lease_expires = self.result, self.error, self.lease_expires
        return job

    # -- transitions: each checks legality (against TRANSITIONS), then records what happened --
    # They sit on the pool's hot path (a claim and a completion per job), hence one set
    # membership test each instead of a call to check_transition.

    def move(self, new: JobStatus) -> None:
        """Move to ``new`` or raise :class:`InvalidTransition`."""
        if self.status not in SOURCES[new]:
            raise InvalidTransition(self.id, self.status, new)
        self.status = new

    def mark_claimed(self, worker_id: str, at: float | None) -> None:
        """pending -> processing by ``worker_id``; counts an attempt."""
        if self.status not in _INTO_R:
            raise InvalidTransition(self.id, self.status, _R)
        self.status = _R
        self.worker_id = worker_id
        self.attempts += 1
        self.started = at
        self.finished = None

    def mark_completed(self, result: Any, at: float | None) -> None:
        """processing -> completed with the handler's result."""
        if self.status not in _INTO_C:
            raise InvalidTransition(self.id, self.status, _C)
        self.status = _C
        self.result = result
        self.error = None
        self.finished = at
        self.lease_expires = None

    def mark_failed(self, error: str, at: float | None) -> None:
        """processing -> failed with the error text."""
        if self.status not in _INTO_F:
            raise InvalidTransition(self.id, self.status, _F)
        self.status = _F
        self.error = error
        self.finished = at
        self.lease_expires = None

    def mark_released(self, error: str | None = None) -> None:
        """processing -> pending (retry, interrupted shutdown, expired lease)."""
        if self.status not in _INTO_P:
            raise InvalidTransition(self.id, self.status, _P)
        self.status = _P
        if error is not None:
            self.error = error
        self.lease_expires = None

    def mark_expired(self, at: float | None) -> None:
        """pending -> expired: its ttl passed before it started."""
        self.move(_E)
        self.finished = at

    @property
    def expires_at(self) -> float | None:
        """When the job expires unless started: ``created + ttl`` (None without a ttl, before
        it is stored, or once it has started)."""
        if self.ttl is None or self.created is None or self.attempts:
            return None
        return self.created + self.ttl

    def mark_cancelled(self, at: float | None) -> None:
        """pending or processing -> cancelled."""
        if self.status not in _INTO_X:
            raise InvalidTransition(self.id, self.status, _X)
        self.status = _X
        self.finished = at
        self.lease_expires = None

    @property
    def token(self) -> ClaimToken | None:
        """The claim this job is under (worker and attempt) while processing, else None."""
        if self.status is not _R or self.worker_id is None:
            return None
        return ClaimToken(self.worker_id, self.attempts)

    @property
    def is_final(self) -> bool:
        """True once the job is completed, failed, cancelled or expired."""
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (status as its string value)."""
        return {
            "id": self.id,
            "type": self.type,
            "payload": self.payload,
            "status": self.status.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout,
            "priority": self.priority,
            "ttl": self.ttl,
            "worker_id": self.worker_id,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
            "lease_expires": self.lease_expires,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        return cls(**data)
