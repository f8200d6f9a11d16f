"""SQLiteJobStore: jobs in one SQLite file, surviving restarts, shared by processes on one host.

* **Atomic claim.** A claim is one conditional statement,
  ``UPDATE jobs SET status='processing' ... WHERE id=? AND status='pending' RETURNING ...``.
  SQLite takes its write lock before the statement reads anything, so of many claimers (tasks,
  threads or processes) exactly one sees the row still pending and wins.
* **Several processes.** WAL mode lets readers run beside the one writer; ``busy_timeout``
  makes a writer wait for the lock instead of failing with ``database is locked``.
* **Never waiting on the event loop.** While the file's write lock is free, a statement runs
  at once on the caller's thread: the calls of one event-loop step share one transaction,
  committed at the end of the step (group commit), and each caller is answered only after
  the commit. When another process (or the store's own thread) holds the lock, the call goes
  to the store's database thread, which waits ``busy_timeout`` for it; checkpoints (the one
  step that calls ``fsync``) run there too. So a lock held elsewhere never blocks the loop,
  nor does a flush to disk (a commit writes the WAL into the page cache). Works on asyncio
  and trio.
* **Ttl.** A claim never takes a job past its ttl. Marking such jobs ``expired`` costs a
  write, so a claim does it only when a job this store added is due, or when it has not been
  done for ``SWEEP_EVERY`` (1 s): another process's job shows ``expired`` up to that late.
* **Leases.** ``lease_expires`` is wall-clock time (``time.time()``) so that every process on
  the host agrees on it, whatever clock the pool uses for its ``at=`` timestamps.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.to_thread

from jobsim.domain import DuplicateJob, Job
from jobsim.stores._poll import PendingPoll
from jobsim.stores._sql import job_to_row, rows_for_insert
from jobsim.stores._sql_store import SQLJobStore
from jobsim.stores._sqlite_file import SQLiteFile
from jobsim.stores._sqlite_schema import (  # noqa: F401 (re-exported)
    _INSERT,
    CLAIM_NEXT_SQL,
    CLAIM_SQL,
    EXPIRE_DUE_SQL,
    EXPIRE_ONE_SQL,
    PENDING_SQL,
    STATEMENTS,
    connect,
    insert_binding,
    upgrade,
)

__all__ = ["SQLiteJobStore"]

T = TypeVar("T")


class SQLiteJobStore(SQLJobStore):
    """A :class:`~jobsim.stores.LeasingJobStore` in one SQLite file.

    ``SQLiteJobStore("jobs.db")`` opens (or creates) the file and its schema; several
    processes may open the same file. ``":memory:"`` gives a private in-memory database.
    The directory must exist (it is never created silently). If the file is removed or
    replaced while the store is open, every later call raises
    :class:`~jobsim.stores.StoreUnavailable` instead of working on the orphaned file.

    Args:
        path: the database file.
        busy_timeout: seconds a write waits for another process's lock before it fails.
        poll_interval: how often :meth:`wait_for_jobs` looks for pending jobs (SQLite cannot
            notify other processes).
    """

    _sql = STATEMENTS
    _NO_LIMIT: ClassVar[int | None] = -1
    #: Longest a claim goes without marking other stores' jobs past their ttl ``expired``.
    SWEEP_EVERY: ClassVar[float] = 1.0

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        if not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.path = os.fspath(path)
        self.poll_interval = poll_interval
        self._file = SQLiteFile(self.path, busy_timeout)
        self._poll = PendingPoll(self._count_pending, poll_interval)
        self._deadlines: list[float] = []  # created + ttl of the ttl jobs added here (a heap)
        self._swept = -self.SWEEP_EVERY  # time.monotonic() of the last expiry sweep

    def __repr__(self) -> str:
        state = "closed" if self._file.closed else "open"
        return f"<SQLiteJobStore {self.path!r} {state}>"

    @classmethod
    async def open(cls, path: str | os.PathLike[str], **options: Any) -> SQLiteJobStore:
        """Open the store from async code without blocking the loop on file I/O."""
        return await anyio.to_thread.run_sync(lambda: cls(path, **options))

    def _run(  # the awaitable itself, not a coroutine around it: a frame less per call
        self, fn: Callable[[sqlite3.Cursor], T], retried: list[int] | None = None
    ) -> Coroutine[Any, Any, T]:
        """Run ``fn(cursor)`` (the connection's one cursor: ``execute``, ``executemany``) and
        await the result, on the loop or the database thread (see :class:`SQLiteFile`; a file
        has no connection to lose: ``retried`` stays empty)."""
        return self._file.run(fn)

    def _run_scan(self, fn: Callable[[sqlite3.Cursor], T]) -> Coroutine[Any, Any, T]:
        """Run ``fn(cursor)`` on the database thread: a statement whose work grows with the
        table (or a batch of jobs) would hold up the event loop for as long."""
        return self._file.run_on_thread(fn)

    def _lease_until(self, lease: float) -> float:
        return time.time() + lease  # leases on the host's wall clock, shared by its processes

    def _requeue_params(self, settle: float) -> tuple[Any, ...]:
        return (time.time(),)  # ``settle`` is moot: a file has no server that restarts

    # -- JobStore ------------------------------------------------------------------------------

    def add(self, job: Job, *, at: float | None = None) -> Coroutine[Any, Any, Job]:
        """Store a new job (see :meth:`JobStore.add`): one ``INSERT``, the hand-off's own
        coroutine (every POST of the service comes through here)."""
        if job.created is None:
            job.created = time.time() if at is None else at
        sql, values = insert_binding(job_to_row(job))
        if job.ttl is not None:  # an id found taken below only costs one early sweep
            heapq.heappush(self._deadlines, job.created + job.ttl)

        def insert(conn: sqlite3.Cursor) -> Job:
            try:
                conn.execute(sql, values)
            except sqlite3.IntegrityError:
                raise DuplicateJob(job.id) from None
            return job

        return self._run(insert)

    async def add_many(self, jobs: Iterable[Job], *, at: float | None = None) -> list[Job]:
        """Store many jobs in one transaction (all or none); much faster than one by one."""
        jobs, rows = rows_for_insert(jobs, at)

        def insert(conn: sqlite3.Cursor) -> None:
            # A savepoint: a transaction of its own, or nested in a group commit.
            conn.execute("SAVEPOINT add_many")
            try:
                conn.executemany(_INSERT, rows)
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK TO add_many")
                conn.execute("RELEASE add_many")
                taken = _first_taken(conn, [job.id for job in jobs])
                raise DuplicateJob(taken) from None
            except BaseException:
                conn.execute("ROLLBACK TO add_many")
                conn.execute("RELEASE add_many")
                raise
            conn.execute("RELEASE add_many")

        await self._run_scan(insert)
        for job in jobs:
            if job.ttl is not None and job.created is not None:
                heapq.heappush(self._deadlines, job.created + job.ttl)
        return jobs

    async def close(self) -> None:
        await self._file.close()

    # -- LeasingJobStore -----------------------------------------------------------------------

    def claim_next(
        self, worker_id: str, lease: float, *, at: float | None = None
    ) -> Coroutine[Any, Any, Job | None]:
        """See :meth:`LeasingJobStore.claim_next` (the hand-off's own coroutine: a frame less
        on every claim)."""
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease!r}")

        sweep = self._sweep_due(time.time() if at is None else at)
        job = self._job

        def claim_next(conn: sqlite3.Cursor) -> Job | None:
            now = time.time()
            started = now if at is None else at
            if sweep:
                conn.execute(EXPIRE_DUE_SQL, (started, started))
            params = (worker_id, started, now + lease, started)
            row = conn.execute(CLAIM_NEXT_SQL, params).fetchone()
            return None if row is None else job(row)

        return self._run(claim_next)

    def _sweep_due(self, now: float) -> bool:
        """Whether this claim should first mark jobs past their ttl ``expired``: when a job
        this store added is due at ``now``, and at least every :attr:`SWEEP_EVERY` seconds for
        the jobs other stores (processes) added. Skipping it is safe: the claim itself never
        takes a job past its ttl; only the ``expired`` status of such a job may lag by up to
        ``SWEEP_EVERY`` (``expire_due`` always sweeps at once)."""
        deadlines = self._deadlines
        tick = time.monotonic()
        if deadlines and deadlines[0] <= now:
            while deadlines and deadlines[0] <= now:
                heapq.heappop(deadlines)
        elif tick - self._swept < self.SWEEP_EVERY:
            return False
        self._swept = tick
        return True

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return once a job is pending or after ``timeout`` seconds (polls every
        ``poll_interval``: SQLite cannot notify other processes). However many workers wait,
        one of them probes for the others, and a probe that finds pending jobs wakes about as
        many waiters as there are jobs: an idle pool costs one query per ``poll_interval``
        and no busy event loop."""
        await self._poll.wait(timeout)

    async def _count_pending(self) -> int:
        return int(await self._run_scan(lambda conn: conn.execute(PENDING_SQL).fetchone()[0]))


def _first_taken(conn: sqlite3.Cursor, ids: list[str]) -> str:
    """The first id that already exists (or repeats within ``ids``)."""
    seen: set[str] = set()
    for job_id in ids:
        if job_id in seen:
            return job_id
        seen.add(job_id)
        if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
            return job_id
    return ids[0]
