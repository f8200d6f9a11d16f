"""The in-memory stores: a dict of jobs for one event loop in one process."""

from __future__ import annotations

import time
from typing import Any

from jobsim.domain import ClaimToken, DuplicateJob, Job, JobNotFound, JobStatus
from jobsim.stores.base import (
    NonBlockingJobStore,
    purge_cutoff,
    refusal,
    status_or_none,
)

__all__ = ["InMemoryJobStore", "MemoryTable"]

_PENDING = JobStatus.PENDING
_PROCESSING = JobStatus.PROCESSING
_COMPLETED = JobStatus.COMPLETED
_EXPIRED = JobStatus.EXPIRED
_SLOT = {status: slot for slot, status in enumerate(JobStatus)}  # pending 0, processing 1, ...
assert _SLOT[_PENDING] == 0 and _SLOT[_PROCESSING] == 1 and _SLOT[_COMPLETED] == 2


class MemoryTable:
    """Jobs in a dict with counts per status: the part every in-memory store shares.

    The legal moves are :class:`~jobsim.domain.Job`'s: writes go through its transition
    methods, except the claim and the completion, which every job makes once: they test the
    one status each may start from and write the job's fields themselves. ``get`` returns
    the live job object (no copy, for speed): read it, don't modify it.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        # Counts per status in a list indexed by _SLOT, except what the three moves every job
        # makes changed: those are counted in plain integers (one increment each, where the
        # list took two updates), and counts() adds them in.
        self._tally = [0] * len(_SLOT)
        self._added = 0  # pending jobs added
        self._claimed = 0  # pending -> processing by a claim
        self._completed = 0  # processing -> completed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} jobs={len(self._jobs)}>"

    def __len__(self) -> int:
        return len(self._jobs)

    def _job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def _moved(self, old: JobStatus, new: JobStatus) -> None:
        tally = self._tally
        tally[_SLOT[old]] -= 1
        tally[_SLOT[new]] += 1

    # Synchronous and free of awaits: atomic under asyncio and trio (see InMemoryJobStore).

    def _add(self, job: Job, *, at: float | None = None) -> Job:
        jobs = self._jobs
        job_id = job.id
        if job_id in jobs:
            raise DuplicateJob(job_id)
        if job.created is None:
            job.created = time.time() if at is None else at
        jobs[job_id] = job
        if job.status is _PENDING:  # the usual case, without hashing an Enum member
            self._added += 1
        else:
            self._tally[_SLOT[job.status]] += 1
        return job

    def _claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> Job | None:
        try:
            job = self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None
        if job.status is not _PENDING:
            return None
        now = time.time() if at is None else at
        if job.ttl is not None and _due(job, now):
            job.mark_expired(now)  # never started within its ttl: never runs
            self._moved(_PENDING, _EXPIRED)
            return None
        # Job.mark_claimed, inlined (the status was tested just above): once per job
        job.status = _PROCESSING
        job.worker_id = worker_id
        job.attempts += 1
        job.started = now
        job.finished = None
        self._claimed += 1
        return job

    @staticmethod
    def _check_holder(job: Job, new: JobStatus, token: ClaimToken | None) -> None:
        """Raise unless ``job`` is processing under ``token`` (any holder when None)."""
        if job.status is not _PROCESSING or (
            token is not None and (token[1] != job.attempts or token[0] != job.worker_id)
        ):
            raise refusal(job.id, new, token, (job.status.value, job.worker_id, job.attempts))

    def _complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        try:
            job = self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None
        if job.status is not _PROCESSING or (  # _check_holder, inlined: once per job
            token is not None and (token[1] != job.attempts or token[0] != job.worker_id)
        ):
            self._check_holder(job, _COMPLETED, token)
        # Job.mark_completed, inlined (the status was tested just above): once per job
        job.status = _COMPLETED
        job.result = result
        job.error = None
        job.finished = time.time() if at is None else at
        job.lease_expires = None
        self._completed += 1

    # -- the JobStore protocol -----------------------------------------------------------------

    async def add(self, job: Job, *, at: float | None = None) -> Job:
        return self._add(job, at=at)

    async def get(self, job_id: str) -> Job:
        return self._job(job_id)

    async def list(
        self, status: JobStatus | str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Job]:
        wanted = status_or_none(status)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        jobs = self._jobs.values()
        selected = [j for j in jobs if j.status is wanted] if wanted is not None else list(jobs)
        end = None if limit is None else offset + limit
        return selected[offset:end]

    async def claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> bool:
        return self._claim(job_id, worker_id, at=at) is not None

    async def complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        self._complete(job_id, result, at=at, token=token)

    async def fail(
        self, job_id: str, error: str, *, at: float | None = None, token: ClaimToken | None = None
    ) -> None:
        job = self._job(job_id)
        self._check_holder(job, JobStatus.FAILED, token)
        job.mark_failed(error, time.time() if at is None else at)
        self._moved(_PROCESSING, JobStatus.FAILED)

    async def release(
        self, job_id: str, error: str | None = None, *, token: ClaimToken | None = None
    ) -> None:
        job = self._job(job_id)
        self._check_holder(job, _PENDING, token)
        job.mark_released(error)
        self._moved(_PROCESSING, _PENDING)

    async def cancel(self, job_id: str, *, at: float | None = None) -> bool:
        job = self._job(job_id)
        if job.is_final:
            return False
        old = job.status
        job.mark_cancelled(time.time() if at is None else at)
        self._moved(old, JobStatus.CANCELLED)
        return True

    async def expire_due(self, *, at: float | None = None) -> int:
        """Move every pending job whose ttl has passed (never started) to ``expired``;
        how many moved. :meth:`claim` does the same for the one job it is asked for."""
        now = time.time() if at is None else at
        due = [j for j in self._jobs.values() if j.status is _PENDING and _due(j, now)]
        for job in due:
            job.mark_expired(now)
            self._moved(_PENDING, _EXPIRED)
        return len(due)

    async def counts(self) -> dict[JobStatus, int]:
        tally = list(self._tally)
        added, claimed, completed = self._added, self._claimed, self._completed
        tally[0] += added - claimed
        tally[1] += claimed - completed
        tally[2] += completed
        return dict(zip(JobStatus, tally, strict=True))

    async def purge_finished(
        self, *, keep: int | None = None, older_than: float | None = None, at: float | None = None
    ) -> int:
        cutoff = purge_cutoff(keep, older_than, at)
        if keep is None and cutoff is None:
            return 0
        finished = [job for job in self._jobs.values() if job.is_final]
        finished.sort(key=lambda job: job.finished or 0.0)  # stable: creation order breaks ties
        stale = len(finished) - keep if keep is not None else 0
        doomed = finished[: max(stale, 0)]
        if cutoff is not None:
            doomed += [job for job in finished[len(doomed) :] if (job.finished or 0.0) < cutoff]
        for job in doomed:
            del self._jobs[job.id]
            self._tally[_SLOT[job.status]] -= 1
        return len(doomed)

    async def close(self) -> None:
        """Nothing to release; the jobs stay readable."""


class InMemoryJobStore(MemoryTable, NonBlockingJobStore):
    """A :class:`~jobsim.stores.JobStore` in a dict, for one event loop in one process.

    **Why the claim needs no mutex.** The Go service guards its map with a mutex because
    goroutines run in parallel: two of them can both read ``pending`` before either writes
    ``processing``. Under asyncio and trio only one task runs at a time and a task is switched
    out only at an ``await`` that reaches the event loop (a *checkpoint*). :meth:`claim` has no
    such ``await`` between reading the status and writing the new one, so the check-and-set is
    atomic by construction: no other task can run in between. (:class:`~jobsim.stores.RacyStore`
    adds exactly one checkpoint there and duplicates jobs, which the contract suite catches.)

    A lock *would* be needed as soon as the claim awaited something between check and set (a
    network round trip, a thread hop), or if the store were touched from other threads or
    processes: then use :class:`~jobsim.stores.SQLiteJobStore` or
    :class:`~jobsim.stores.PostgresJobStore`, whose claim is one atomic SQL statement.

    It declares :class:`~jobsim.stores.base.NonBlockingJobStore`: ``add_nowait``,
    ``claim_nowait`` and ``complete_nowait`` are the same operations without a coroutine
    around them, which a :class:`~jobsim.WorkerPool` uses to keep its per-job cost near a bare
    queue's.
    """

    add_nowait = MemoryTable._add
    claim_nowait = MemoryTable._claim
    complete_nowait = MemoryTable._complete


def _due(job: Job, now: float) -> bool:
    expires = job.expires_at
    return expires is not None and now >= expires
