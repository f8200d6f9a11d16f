"""RacyStore: the deliberate negative control. Do not use it for real work.

Its claim reads the status, yields to the event loop (one checkpoint, as a database round trip
or a thread hop would), and only then writes. Two workers given the same job both see
``pending`` and both run it: the classic check-then-act race that an atomic claim prevents.
The contract suite's atomicity test must catch it; the duplicate-prevention demo shows it.
"""

from __future__ import annotations

import time
from typing import Any

import anyio.lowlevel

from jobsim.domain import ClaimToken, Job, JobStatus
from jobsim.stores.memory import MemoryTable

__all__ = ["RacyStore"]


class RacyStore(MemoryTable):
    """An in-memory store whose claim is check, checkpoint, set (not atomic).

    It shares the dict and counts of :class:`~jobsim.stores.InMemoryJobStore` but not its
    declared non-blocking fast path, so a pool goes through the racy awaitable claim.

    Its ``complete`` and ``fail`` are last-write-wins (no transition or token checks), as
    sloppy stores are, so a job that ran twice ends ``completed`` instead of raising: the damage
    is the duplicate run itself, counted by ``attempts`` and by the handler.
    """

    async def claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> bool:
        job = self._job(job_id)
        if job.status is not JobStatus.PENDING:  # check ...
            return False
        await anyio.lowlevel.checkpoint()  # ... another task runs here ...
        if job.status is JobStatus.PENDING:  # (keep the counts honest)
            self._moved(JobStatus.PENDING, JobStatus.PROCESSING)
        job.status = JobStatus.PROCESSING  # ... set, whatever happened in between.
        job.worker_id = worker_id
        job.attempts += 1
        job.started = time.time() if at is None else at
        return True

    def _overwrite(self, job: Job, status: JobStatus) -> None:
        self._moved(job.status, status)
        job.status = status

    async def complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        job = self._job(job_id)
        self._overwrite(job, JobStatus.COMPLETED)
        job.result, job.finished = result, time.time() if at is None else at

    async def fail(
        self, job_id: str, error: str, *, at: float | None = None, token: ClaimToken | None = None
    ) -> None:
        job = self._job(job_id)
        self._overwrite(job, JobStatus.FAILED)
        job.error, job.finished = error, time.time() if at is None else at
