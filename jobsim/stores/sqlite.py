"""SQLiteJobStore: jobs in one SQLite file, surviving restarts, shared by processes on one host.

* **Atomic claim.** A claim is one conditional statement,
  ``UPDATE jobs SET status='processing' ... WHERE id=? AND status='pending' RETURNING ...``.
  SQLite takes its write lock before the statement reads anything, so of many claimers (tasks,
  threads or processes) exactly one sees the row still pending and wins.
* **Several processes.** WAL mode lets readers run beside the one writer; ``busy_timeout``
  makes a writer wait for the lock instead of failing with ``database is locked``.
* **Off the event loop.** Every statement runs on the store's own database thread, one at a
  time, so a slow disk or a lock held by another process never blocks the loop. Works on
  asyncio and trio. Calls that queue up while the thread is busy share one transaction
  (group commit); each caller is answered only after the commit.
* **Leases.** ``lease_expires`` is wall-clock time (``time.time()``) so that every process on
  the host agrees on it, whatever clock the pool uses for its ``at=`` timestamps.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from jobsim.domain import ClaimToken, DuplicateJob, Job, JobNotFound, JobStatus
from jobsim.stores._sql import (
    COLUMN_LIST,
    check_page,
    encode_result,
    purge_sql,
    row_to_job,
    rows_for_insert,
)
from jobsim.stores._sqlite_schema import (  # noqa: F401 (re-exported)
    _INSERT,
    CLAIM_NEXT_SQL,
    CLAIM_SQL,
    EXPIRE_DUE_SQL,
    EXPIRE_ONE_SQL,
    connect,
    upgrade,
)
from jobsim.stores._threads import ConnectionThreads
from jobsim.stores.base import purge_cutoff, refusal, status_or_none

__all__ = ["SQLiteJobStore"]

T = TypeVar("T")


class SQLiteJobStore:
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
        self._identity: tuple[int, int] | None = None
        if self.path != ":memory:":
            parent = Path(self.path).absolute().parent
            if not parent.is_dir():
                raise FileNotFoundError(
                    f"the directory {str(parent)!r} does not exist; create it first "
                    "(jobsim does not create directories)"
                )
        self.poll_interval = poll_interval
        self._tickets, self._probing = 0, False  # wait_for_jobs: one prober for all waiters
        self._news: anyio.Event | None = None
        self._conn = conn = connect(self.path, busy_timeout)
        if self.path != ":memory:":
            self._identity = _file_identity(self.path)
        # One thread owns the one connection: SQLite has one writer anyway.
        self._threads: ConnectionThreads[sqlite3.Connection] | None = ConnectionThreads(
            lambda: conn,
            sqlite3.Connection.close,
            max_threads=1,
            name="jobsim-sqlite",
            group=_transaction,
        )

    def __repr__(self) -> str:
        state = "closed" if self._threads is None else "open"
        return f"<SQLiteJobStore {self.path!r} {state}>"

    @classmethod
    async def open(cls, path: str | os.PathLike[str], **options: Any) -> SQLiteJobStore:
        """Open the store from async code without blocking the loop on file I/O."""
        return await anyio.to_thread.run_sync(lambda: cls(path, **options))

    # -- plumbing ------------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store's database thread and wait for it."""
        if self._threads is None:
            raise RuntimeError(f"{self!r} is closed; open a new store")
        if self._identity is None:
            return await self._threads.call(fn)
        return await self._threads.call(lambda conn: fn(self._check_file(conn)))

    def _check_file(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """Refuse to go on once the database file was removed or replaced: the connection
        would keep working on the old, unlinked file while everyone else uses the new one
        (a split brain). One ``stat`` per statement, on the database thread."""
        try:
            now: tuple[int, int] | None = _file_identity(self.path)
        except FileNotFoundError:
            now = None
        if now != self._identity:
            from jobsim.stores.errors import StoreUnavailable

            what = "removed" if now is None else "replaced by another file"
            raise StoreUnavailable(
                f"the SQLite database {self.path!r} was {what} while this store had it "
                "open; stopping rather than working on a file nobody else sees "
                "(open the store again to use the file now at that path)"
            )
        return conn

    @staticmethod
    def _status(conn: sqlite3.Connection, job_id: str) -> str | None:
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _holder(conn: sqlite3.Connection, job_id: str) -> tuple[str, str | None, int] | None:
        sql = "SELECT status, worker_id, attempts FROM jobs WHERE id = ?"
        row = conn.execute(sql, (job_id,)).fetchone()
        return None if row is None else (str(row[0]), row[1], int(row[2]))

    # -- JobStore ------------------------------------------------------------------------------

    async def add(self, job: Job, *, at: float | None = None) -> Job:
        await self.add_many([job], at=at)
        return job

    async def add_many(self, jobs: Iterable[Job], *, at: float | None = None) -> list[Job]:
        """Store many jobs in one transaction (all or none); much faster than one by one."""
        jobs, rows = rows_for_insert(jobs, at)

        def insert(conn: sqlite3.Connection) -> None:
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

        await self._run(insert)
        return jobs

    async def get(self, job_id: str) -> Job:
        def get(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                f"SELECT {COLUMN_LIST} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()

        row = await self._run(get)
        if row is None:
            raise JobNotFound(job_id)
        return row_to_job(row)

    async def list(
        self, status: JobStatus | str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Job]:
        wanted = status_or_none(status)
        check_page(limit, offset)
        lim = -1 if limit is None else limit
        if wanted is None:
            sql = f"SELECT {COLUMN_LIST} FROM jobs ORDER BY seq LIMIT ? OFFSET ?"
            params: tuple[Any, ...] = (lim, offset)
        else:
            sql = f"SELECT {COLUMN_LIST} FROM jobs WHERE status = ? ORDER BY seq LIMIT ? OFFSET ?"
            params = (wanted.value, lim, offset)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [row_to_job(r) for r in rows]

    async def claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> bool:
        started = time.time() if at is None else at

        def claim(conn: sqlite3.Connection) -> bool:
            params = (worker_id, started, job_id, started)
            if conn.execute(CLAIM_SQL, params).fetchone() is not None:
                return True
            if conn.execute(EXPIRE_ONE_SQL, (started, job_id, started)).rowcount:
                return False  # its ttl passed before it started: now expired, never run
            if self._status(conn, job_id) is None:
                raise JobNotFound(job_id)
            return False

        return await self._run(claim)

    async def _finish(
        self,
        job_id: str,
        new: JobStatus,
        sets: str,
        params: tuple[Any, ...],
        token: ClaimToken | None,
    ) -> None:
        """End a claim: one conditional UPDATE, fenced by ``token`` when given."""
        sql = f"UPDATE jobs SET status = ?, {sets} WHERE id = ? AND status = 'processing'"
        args: tuple[Any, ...] = (new.value, *params, job_id)
        if token is not None:
            sql += " AND worker_id = ? AND attempts = ?"
            args += (token[0], token[1])

        def finish(conn: sqlite3.Connection) -> None:
            if conn.execute(sql, args).rowcount == 0:
                raise refusal(job_id, new, token, self._holder(conn, job_id))

        await self._run(finish)

    async def complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> None:
        await self._finish(
            job_id,
            JobStatus.COMPLETED,
            "result = ?, error = NULL, finished = ?, lease_expires = NULL",
            (encode_result(job_id, result), time.time() if at is None else at),
            token,
        )

    async def fail(
        self, job_id: str, error: str, *, at: float | None = None, token: ClaimToken | None = None
    ) -> None:
        await self._finish(
            job_id,
            JobStatus.FAILED,
            "error = ?, finished = ?, lease_expires = NULL",
            (error, time.time() if at is None else at),
            token,
        )

    async def release(
        self, job_id: str, error: str | None = None, *, token: ClaimToken | None = None
    ) -> None:
        await self._finish(
            job_id,
            JobStatus.PENDING,
            "error = COALESCE(?, error), lease_expires = NULL",
            (error,),
            token,
        )

    async def cancel(self, job_id: str, *, at: float | None = None) -> bool:
        finished = time.time() if at is None else at

        def cancel(conn: sqlite3.Connection) -> bool:
            moved = conn.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?, lease_expires = NULL "
                "WHERE id = ? AND status IN ('pending', 'processing')",
                (finished, job_id),
            ).rowcount
            if moved:
                return True
            if self._status(conn, job_id) is None:
                raise JobNotFound(job_id)
            return False

        return await self._run(cancel)

    async def expire_due(self, *, at: float | None = None) -> int:
        """Move every pending job whose ttl passed (never started) to ``expired``; how many
        moved. ``at``: now on the clock the jobs' ``created`` times use (default: wall clock)."""
        now = time.time() if at is None else at
        return await self._run(lambda conn: conn.execute(EXPIRE_DUE_SQL, (now, now)).rowcount)

    async def counts(self) -> dict[JobStatus, int]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT status, COUNT(*) FROM jobs GROUP BY status"
            ).fetchall()
        )
        counts = dict.fromkeys(JobStatus, 0)
        for status, n in rows:
            counts[JobStatus(status)] = n
        return counts

    async def purge_finished(
        self, *, keep: int | None = None, older_than: float | None = None, at: float | None = None
    ) -> int:
        statement = purge_sql("jobs", "?", keep, purge_cutoff(keep, older_than, at))
        if statement is None:
            return 0
        sql, params = statement
        return await self._run(lambda conn: conn.execute(sql, params).rowcount)

    async def close(self) -> None:
        threads, self._threads = self._threads, None
        if threads is not None:
            started = threads.close()  # the thread closes the connection after queued work
            for thread in started:
                await anyio.to_thread.run_sync(thread.join)
            if not started:  # never used: no thread owns the connection
                self._conn.close()

    # -- LeasingJobStore -----------------------------------------------------------------------

    async def claim_next(
        self, worker_id: str, lease: float, *, at: float | None = None
    ) -> Job | None:
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease!r}")

        def claim_next(conn: sqlite3.Connection) -> Any:
            now = time.time()
            started = now if at is None else at
            conn.execute(EXPIRE_DUE_SQL, (started, started))
            params = (worker_id, started, now + lease, started)
            return conn.execute(CLAIM_NEXT_SQL, params).fetchone()

        row = await self._run(claim_next)
        return None if row is None else row_to_job(row)

    async def renew(self, job_id: str, holder: ClaimToken | str, lease: float) -> bool:
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease!r}")
        sql = (
            "UPDATE jobs SET lease_expires = ? "
            "WHERE id = ? AND worker_id = ? AND status = 'processing'"
        )
        if isinstance(holder, str):
            params: tuple[Any, ...] = (job_id, holder)
        else:
            sql += " AND attempts = ?"
            params = (job_id, holder[0], holder[1])

        def renew(conn: sqlite3.Connection) -> bool:
            return bool(conn.execute(sql, (time.time() + lease, *params)).rowcount)

        return await self._run(renew)

    async def requeue_expired(self, *, at: float | None = None, settle: float = 0.0) -> int:
        """Put jobs whose lease lapsed back to pending; how many moved.

        Leases are on the store's clock (``time.time()``, shared by every process on the
        host), so ``at`` (the caller's clock, perhaps a per-process loop clock) is ignored,
        and so is ``settle`` (a file has no server that restarts).
        """

        def requeue(conn: sqlite3.Connection) -> int:
            now = time.time()
            return conn.execute(
                "UPDATE jobs SET status = 'pending', lease_expires = NULL, "
                "error = 'lease expired (worker ' || COALESCE(worker_id, '?') "
                "|| ' stopped renewing)' "
                "WHERE status = 'processing' AND lease_expires IS NOT NULL AND lease_expires < ?",
                (now,),
            ).rowcount

        return await self._run(requeue)

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return once a job is pending or after ``timeout`` seconds (polls every
        ``poll_interval``: SQLite cannot notify other processes). However many workers wait,
        one of them probes for the others, and a probe that finds pending jobs wakes about as
        many waiters as there are jobs: an idle pool costs one query per ``poll_interval``
        and no busy event loop."""
        with anyio.move_on_after(timeout):
            while not self._take_ticket():
                if self._probing:
                    if self._news is None:
                        self._news = anyio.Event()
                    await self._news.wait()
                else:
                    await self._probe_until_news()

    def _take_ticket(self) -> bool:
        if self._tickets > 0:
            self._tickets -= 1
            return True
        return False

    async def _probe_until_news(self) -> None:
        probe = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'pending' LIMIT 256)"
        self._probing = True
        try:
            while True:
                found = await self._run(lambda conn: conn.execute(probe).fetchone()[0])
                if found:
                    self._tickets = found
                    return
                await anyio.sleep(self.poll_interval)
        finally:  # news, or this prober gave up (its timeout): wake the others either way
            self._probing = False
            news, self._news = self._news, None
            if news is not None:
                news.set()


def _file_identity(path: str) -> tuple[int, int]:
    """(device, inode) of the file at ``path``: which file, not just which name."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Group commit: the calls waiting on the database thread share one write transaction
    (one lock round and one WAL commit instead of one each)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _first_taken(conn: sqlite3.Connection, ids: list[str]) -> str:
    """The first id that already exists (or repeats within ``ids``)."""
    seen: set[str] = set()
    for job_id in ids:
        if job_id in seen:
            return job_id
        seen.add(job_id)
        if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
            return job_id
    return ids[0]
