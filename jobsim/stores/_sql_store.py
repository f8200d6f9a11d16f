"""What the SQL stores do alike, written once: the :class:`~jobsim.stores.JobStore` calls that
are the same logic on SQLite and PostgreSQL, over each dialect's :class:`Statements`.

Each call is one function of a DB-API connection (``conn.execute(sql, params)`` then
``fetchone``/``fetchall``/``rowcount``, which ``sqlite3`` and psycopg share), run by the store's
``_run`` (PostgreSQL: on a database thread, riding out an outage; SQLite: in the caller's loop
step while the file's lock is free, else on its database thread, checking its file first) or,
for work that grows with the table, ``_run_scan``. A call that needs several statements (a
claim that finds its job past its ttl, an outcome that was refused) runs them in one trip.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from jobsim.domain import ClaimToken, Job, JobNotFound, JobStatus
from jobsim.stores._sql import check_page, encode_result, purge_sql, row_to_job
from jobsim.stores._statements import Statements
from jobsim.stores.base import purge_cutoff, refusal, status_or_none

__all__ = ["SQLJobStore"]

T = TypeVar("T")
Conn = Any  # a sqlite3 or psycopg connection: both have ``execute(sql, params)``


class SQLJobStore(abc.ABC):
    """The shared half of a SQL :class:`~jobsim.stores.LeasingJobStore`.

    A subclass sets ``_sql`` (its :class:`Statements`) and provides ``_run`` (where and how a
    function of a connection runs), ``add``/``add_many``, ``claim_next``, ``wait_for_jobs``
    and ``close``; the class attributes below say how its dialect differs.
    """

    _sql: Statements
    #: the driver already decodes payload and result (PostgreSQL ``jsonb``)
    _JSON_DECODED: ClassVar[bool] = False
    #: what ``LIMIT`` takes for "no limit"
    _NO_LIMIT: ClassVar[int | None] = None

    @abc.abstractmethod
    def _run(
        self, fn: Callable[[Conn], T], retried: list[int] | None = None
    ) -> Coroutine[Any, Any, T]:
        """Run ``fn(connection)`` where the store runs its statements (a database thread;
        SQLite: the caller's loop while the lock is free) and wait for it; ``retried`` (if
        given) counts the times ``fn`` was run again after the connection dropped."""

    def _run_scan(self, fn: Callable[[Conn], T]) -> Coroutine[Any, Any, T]:
        """Run a statement whose work grows with the table (a page of jobs, the counts, a
        purge, a sweep): as any other unless the store runs those elsewhere."""
        return self._run(fn)

    def _lease_until(self, lease: float) -> float:
        """The parameter of :attr:`Statements.renew` for a lease of ``lease`` seconds (called
        where the statement runs)."""
        return lease

    @abc.abstractmethod
    def _requeue_params(self, settle: float) -> tuple[Any, ...]:
        """The parameters of :attr:`Statements.requeue` (called where the statement runs)."""

    def _job(self, row: Any) -> Job:
        return row_to_job(row, json_decoded=self._JSON_DECODED)

    # -- JobStore ------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        sql = self._sql.get
        row = await self._run(lambda conn: conn.execute(sql, (job_id,)).fetchone())
        if row is None:
            raise JobNotFound(job_id)
        return self._job(row)

    async def list(
        self, status: JobStatus | str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Job]:
        wanted = status_or_none(status)
        check_page(limit, offset)
        page: tuple[Any, ...] = (self._NO_LIMIT if limit is None else limit, offset)
        if wanted is None:
            sql, params = self._sql.list_all, page
        else:
            sql, params = self._sql.list_status, (wanted.value, *page)
        rows = await self._run_scan(lambda conn: conn.execute(sql, params).fetchall())
        return [self._job(row) for row in rows]

    async def claim(self, job_id: str, worker_id: str, *, at: float | None = None) -> bool:
        started = time.time() if at is None else at
        s = self._sql

        def claim(conn: Conn) -> tuple[bool, Any]:
            if conn.execute(s.claim, (worker_id, started, job_id, started)).fetchone():
                return True, None
            if conn.execute(s.expire_one, (started, job_id, started)).rowcount:
                return False, None  # its ttl passed before it started: now expired, never run
            row = conn.execute(s.claimed, (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            return False, tuple(row)

        retried: list[int] = []
        won, current = await self._run(claim, retried)
        if not won and retried and current == ("processing", worker_id, started):
            return True  # the first try claimed it before the connection dropped
        return bool(won)

    def _finish(
        self, sql: str, new: JobStatus, params: tuple[Any, ...], token: ClaimToken | None
    ) -> Coroutine[Any, Any, None]:
        """End a claim: one conditional UPDATE (``params`` end with the job id), fenced by
        ``token`` when given; when it moves nothing, who holds the job says why. (The store's
        ``_run`` itself is returned, not a coroutine around it: a frame less per outcome.)"""
        job_id = params[-1]
        if token is not None:
            sql += self._sql.fence
            params += (token[0], token[1])
        holder = self._sql.holder
        retried: list[int] = []

        def finish(conn: Conn) -> None:
            if conn.execute(sql, params).rowcount:
                return
            row = conn.execute(holder, (job_id,)).fetchone()
            current = None if row is None else tuple(row)
            if retried and token is not None and current == (new.value, *token):
                return  # the first try was written before the connection dropped
            raise refusal(job_id, new, token, current)

        return self._run(finish, retried)

    def complete(
        self,
        job_id: str,
        result: Any = None,
        *,
        at: float | None = None,
        token: ClaimToken | None = None,
    ) -> Coroutine[Any, Any, None]:
        when = time.time() if at is None else at
        params = (encode_result(job_id, result), when, job_id)
        return self._finish(self._sql.complete, JobStatus.COMPLETED, params, token)

    def fail(
        self, job_id: str, error: str, *, at: float | None = None, token: ClaimToken | None = None
    ) -> Coroutine[Any, Any, None]:
        when = time.time() if at is None else at
        return self._finish(self._sql.fail, JobStatus.FAILED, (error, when, job_id), token)

    def release(
        self, job_id: str, error: str | None = None, *, token: ClaimToken | None = None
    ) -> Coroutine[Any, Any, None]:
        return self._finish(self._sql.release, JobStatus.PENDING, (error, job_id), token)

    async def cancel(self, job_id: str, *, at: float | None = None) -> bool:
        """Cancel a job: True if this call moved it to cancelled, False if it had already
        finished (see :meth:`JobStore.cancel`).

        A call retried after a dropped connection (its first try may have committed, its reply
        lost) reports True when it finds the job cancelled at this call's very ``at``: its own
        first try did it. A cancel by someone else carries another time; only one stamped with
        the same ``at`` to the bit (the default is ``time.time()``) could pass for this one.
        """
        when = time.time() if at is None else at
        s = self._sql

        def cancel(conn: Conn) -> tuple[bool, Any]:
            if conn.execute(s.cancel, (when, job_id)).rowcount:
                return True, None
            row = conn.execute(s.ended, (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            return False, tuple(row)

        retried: list[int] = []
        moved, current = await self._run(cancel, retried)
        if not moved and retried and current == ("cancelled", when):
            return True  # the first try cancelled it before the connection dropped
        return bool(moved)

    async def expire_due(self, *, at: float | None = None) -> int:
        """Move every pending job whose ttl passed (never started) to ``expired``; how many
        moved. ``at``: now on the clock the jobs' ``created`` times use (default: wall clock)."""
        now = time.time() if at is None else at
        sql = self._sql.expire_due
        return int(await self._run_scan(lambda conn: conn.execute(sql, (now, now)).rowcount))

    async def counts(self) -> dict[JobStatus, int]:
        sql = self._sql.counts
        counts = dict.fromkeys(JobStatus, 0)
        for status, n in await self._run_scan(lambda conn: conn.execute(sql).fetchall()):
            counts[JobStatus(status)] = n
        return counts

    async def purge_finished(
        self, *, keep: int | None = None, older_than: float | None = None, at: float | None = None
    ) -> int:
        s = self._sql
        statement = purge_sql(s.table, s.mark, keep, purge_cutoff(keep, older_than, at))
        if statement is None:
            return 0
        sql, params = statement
        return int(await self._run_scan(lambda conn: conn.execute(sql, params).rowcount))

    # -- LeasingJobStore -----------------------------------------------------------------------

    async def renew(self, job_id: str, holder: ClaimToken | str, lease: float) -> bool:
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease!r}")
        sql = self._sql.renew
        if isinstance(holder, str):
            params: tuple[Any, ...] = (job_id, holder)
        else:
            sql += f" AND attempts = {self._sql.mark}"
            params = (job_id, holder[0], holder[1])
        until = self._lease_until

        def renew(conn: Conn) -> bool:
            return bool(conn.execute(sql, (until(lease), *params)).rowcount)

        return await self._run(renew)

    async def requeue_expired(self, *, at: float | None = None, settle: float = 0.0) -> int:
        """Put jobs whose lease lapsed back to pending; how many moved.

        Leases are on the store's clock (SQLite: ``time.time()``, shared by every process on
        the host; PostgreSQL: the server's, shared by every host), so ``at`` (the caller's
        clock, perhaps a per-process loop clock) is ignored. ``settle`` (PostgreSQL; a file
        has no server that restarts): requeue nothing until the server has been up that long,
        since leases that lapsed while it was down lapsed because nobody *could* renew them.
        """
        sql, params = self._sql.requeue, self._requeue_params
        return int(await self._run_scan(lambda conn: conn.execute(sql, params(settle)).rowcount))
