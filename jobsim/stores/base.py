"""The :class:`JobStore` protocol: what a pool needs from the source of truth.

The store, not the channel, decides who runs a job: :meth:`JobStore.claim` moves a job from
``pending`` to ``processing`` atomically and says whether this caller won. A job delivered twice
is therefore still run once. Every store passes the same contract suite in ``tests/stores/``.

Timestamps are passed in (``at=``) by the caller, so one run keeps one clock (virtual in a
simulation); a store fills in ``time.time()`` when none is given.
"""

from __future__ import annotations

import abc
import time
from typing import Any, Protocol, runtime_checkable

from jobsim.domain import (
    ClaimLost,
    ClaimToken,
    InvalidTransition,
    Job,
    JobNotFound,
    JobStatus,
)

__all__ = [
    "JobStore",
    "LeasingJobStore",
    "NonBlockingJobStore",
    "purge_cutoff",
    "refusal",
    "status_or_none",
]


@runtime_checkable
class JobStore(Protocol):
    """An async, claimable job store."""

    async def add(self, job: Job, *, at: float | None = None) -> Job:
        """Store a new job (pending). Sets ``created`` to ``at`` unless already set.

        Raises :class:`~jobsim.domain.DuplicateJob` when the id is taken.
        """
        ...

    async def get(self, job_id: str) -> Job:
        """The job with this id; :class:`~jobsim.domain.JobNotFound` when there is none."""
        ...

    async def list(
        self, status: JobStatus | str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Job]:
        """Jobs in creation order, optionally filtered by status and paged."""
        ...

    async def claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> bool:
        """Atomically move a pending job to processing for ``worker_id``.

        True if this call won the job (``attempts`` goes up by one, ``started = at``); False if
        the job was not pending (already claimed, finished or cancelled). A job whose ttl
        passed before its first start (``at >= created + ttl``) is not claimed: the same
        atomic step moves it to ``expired`` and returns False. Unknown id:
        :class:`~jobsim.domain.JobNotFound`.
        """
        ...

    async def expire_due(self, *, at: float | None = None) -> int:
        """Move every pending job whose ttl passed before its first start to ``expired``
        (``finished = at``); how many moved. ``at`` is on the clock of the jobs' ``created``."""
        ...

    async def complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        """processing -> completed with ``result``.

        **Fencing.** With ``token`` (the ``Job.token`` of the claim), the write succeeds only
        if that claim is still the current one, checked in the same atomic step as the
        write; otherwise it raises :class:`~jobsim.domain.ClaimLost` and changes nothing. A
        pool always passes its token. Without one the write is unfenced (an operator's
        decision); a job that is not processing raises
        :class:`~jobsim.domain.InvalidTransition`.
        """
        ...

    async def fail(
        self, job_id: str, error: str, *, at: float | None = None, token: ClaimToken | None = None
    ) -> None:
        """processing -> failed with ``error`` (fenced by ``token`` like :meth:`complete`)."""
        ...

    async def release(
        self, job_id: str, error: str | None = None, *, token: ClaimToken | None = None
    ) -> None:
        """processing -> pending: the attempt was interrupted or will be retried (fenced by
        ``token`` like :meth:`complete`)."""
        ...

    async def cancel(self, job_id: str, *, at: float | None = None) -> bool:
        """Cancel a job: True if it moved to cancelled, False if it had already finished.

        A pending job is cancelled outright; a processing one too (the pool that runs it is
        responsible for stopping its handler).
        """
        ...

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status present, zeros included)."""
        ...

    async def purge_finished(
        self, *, keep: int | None = None, older_than: float | None = None, at: float | None = None
    ) -> int:
        """Delete finished jobs (completed, failed, cancelled) to bound the store's size.

        Removes every finished job beyond the ``keep`` most recently finished ones, and every
        one that finished more than ``older_than`` seconds before ``at`` (default now). None
        means no bound of that kind. Pending and processing jobs are never touched. Returns
        how many jobs were deleted.
        """
        ...

    async def close(self) -> None:
        """Release connections, threads and files. Idempotent."""
        ...


@runtime_checkable
class LeasingJobStore(JobStore, Protocol):
    """A store shared between processes: claims carry a lease that the runner renews.

    A job whose lease lapses (its worker crashed) goes back to pending and is run again.
    Leases are kept on the *store's* clock (the wall clock for SQLite, the server's clock for
    PostgreSQL) so that every process and host agrees on them; ``at=`` arguments set the
    job's timestamps only.
    """

    async def claim_next(
        self, worker_id: str, lease: float, *, at: float | None = None
    ) -> Job | None:
        """Claim the next pending job for ``lease`` seconds, or None if there is none: the
        highest ``priority`` first, the oldest within a priority. Pending jobs whose ttl passed
        are marked ``expired`` on the way, never claimed."""
        ...

    async def renew(self, job_id: str, holder: ClaimToken | str, lease: float) -> bool:
        """Extend the lease of ``holder`` (a :class:`~jobsim.domain.ClaimToken`, or just a
        worker id) by ``lease`` seconds from now; False if that claim is no longer current."""
        ...

    async def requeue_expired(self, *, at: float | None = None, settle: float = 0.0) -> int:
        """Return jobs whose lease lapsed to pending (their attempt counts stays: the next
        claim adds one); how many moved. ``settle``: after the store's server (re)started,
        requeue nothing for that many seconds, so holders cut off by the outage renew first."""
        ...

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return when new pending jobs may be there (e.g. LISTEN/NOTIFY) or after
        ``timeout`` seconds, whichever is first. Polling stores just sleep."""
        ...


class NonBlockingJobStore(JobStore, abc.ABC):
    """A declared capability: a store whose hot operations never wait (in-process memory)
    and that offers them as plain functions too.

    A store *declares* it by subclassing; the pool checks ``isinstance(store,
    NonBlockingJobStore)`` once when it starts and then calls these instead of the coroutines:
    two coroutine hops fewer per job, which is most of the gap to a bare ``asyncio.Queue``.
    The semantics are those of the async twins, except that ``claim_nowait`` returns the
    claimed job (or None) instead of a bool.
    """

    @abc.abstractmethod
    def add_nowait(self, job: Job, *, at: float | None = None) -> Job:
        """:meth:`add` without the coroutine."""

    @abc.abstractmethod
    def claim_nowait(self, job_id: str, worker_id: str, *, at: float | None = None) -> Job | None:
        """:meth:`claim` without the coroutine, returning the claimed job or None."""

    @abc.abstractmethod
    def complete_nowait(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        """:meth:`complete` without the coroutine (fenced by ``token`` the same way)."""


def purge_cutoff(keep: int | None, older_than: float | None, at: float | None) -> float | None:
    """Check :meth:`JobStore.purge_finished`'s arguments; the ``finished`` time before which
    jobs go (None without ``older_than``)."""
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        raise ValueError(f"keep must be an integer >= 0 or None, got {keep!r}")
    if older_than is None:
        return None
    if not (isinstance(older_than, int | float) and 0 <= older_than < float("inf")):
        raise ValueError(f"older_than must be a number of seconds >= 0 or None, got {older_than!r}")
    return (time.time() if at is None else at) - older_than


def outage_seconds(store: object) -> float | None:
    """How long ``store`` has been unreachable while it rides out an outage (a PostgreSQL
    restart, say), or None when it is reachable (or cannot have outages)."""
    since = getattr(getattr(store, "outage", None), "since", None)
    return None if since is None else time.monotonic() - since


def refusal(
    job_id: str,
    new: JobStatus,
    token: ClaimToken | None,
    current: tuple[str, str | None, int] | None,
) -> Exception:
    """The error for an outcome a store did not write. ``current`` is the job's
    ``(status, worker_id, attempts)`` as the store has it now (None: no such job)."""
    if current is None:
        return JobNotFound(job_id)
    status, worker_id, attempts = current
    if token is None:
        return InvalidTransition(job_id, status, new)
    holder = ClaimToken(worker_id, attempts) if worker_id is not None else None
    return ClaimLost(job_id, token, new, status, holder)


def status_or_none(status: JobStatus | str | None) -> JobStatus | None:
    """Normalise a status filter, with an error that lists the allowed values."""
    if status is None or isinstance(status, JobStatus):
        return status
    try:
        return JobStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ValueError(f"unknown job status {status!r}; allowed: {allowed}") from None
