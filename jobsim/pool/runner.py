"""Running one claimed job: the handler under its timeout, then the outcome recorded.

A worker calls :meth:`Runner.run` after it won the claim. No cancel scope is opened per job
(an anyio ``CancelScope`` costs ~10 µs on asyncio): each worker runs in one long-lived scope
that ``cancel(job_id)`` or a shutdown deadline cancels, and the worker then opens a fresh one.
"""

from __future__ import annotations

import anyio

from jobsim.domain import ClaimToken, Job
from jobsim.events import TraceEvent, Tracer
from jobsim.pool.crew import Worker
from jobsim.pool.outcomes import Outcomes

__all__ = ["Handler", "Runner"]

from collections.abc import Awaitable, Callable
from typing import Any

#: What a pool runs: ``await handler(job)``; the return value becomes ``job.result``.
Handler = Callable[[Job], Awaitable[Any]]

_STARTED = TraceEvent.STARTED


class Runner:
    """Runs the handler on claimed jobs and hands each end to the :class:`Outcomes`."""

    __slots__ = ("handler", "job_timeout", "outcomes", "tracer")

    def __init__(
        self,
        handler: Handler,
        job_timeout: float | None,
        outcomes: Outcomes,
        tracer: Tracer | None,
    ) -> None:
        self.handler = handler
        self.job_timeout = job_timeout
        self.outcomes = outcomes
        self.tracer = tracer

    async def run(self, job: Job, worker: Worker, started: float, token: ClaimToken | None) -> None:
        """Run the handler on a claimed job and record how the attempt ended. ``token`` is
        this claim, captured when it was won (a live job object may be claimed again); the
        worker's :attr:`~jobsim.pool.crew.Worker.job_id` names the job while its handler runs."""
        job_id, worker_id = job.id, worker.id
        if self.tracer is not None:
            self.tracer(_STARTED, started, job_id, worker_id)
        timeout = job.timeout if job.timeout is not None else self.job_timeout
        worker.job_id = job_id
        try:
            if timeout is None:
                result = await self.handler(job)
            else:
                with anyio.fail_after(timeout):
                    result = await self.handler(job)
        except BaseException as exc:
            worker.job_id = None
            await self.raised(job, worker_id, token, exc, timeout)
            return
        worker.job_id = None
        outcomes = self.outcomes
        if not outcomes.complete_nowait(job_id, worker_id, result, token):
            await outcomes.complete(job_id, worker_id, result, token)

    @property
    def plain(self) -> bool:
        """Whether a job without its own ``timeout`` runs as just ``await handler(job)``
        (no pool-wide timeout): then a mode may trace its start and await the handler itself,
        and call :meth:`raised` if it raises (one coroutine fewer per job)."""
        return self.job_timeout is None

    async def raised(
        self,
        job: Job,
        worker_id: str,
        token: ClaimToken | None,
        exc: BaseException,
        timeout: float | None,
    ) -> None:
        """The handler raised ``exc`` (its worker no longer names ``job``). An exception fails
        the attempt (retried if attempts are left) and the worker goes on; a cancellation
        (``cancel()``, a shutdown deadline) is recorded shielded and raised again."""
        if isinstance(exc, Exception):
            if isinstance(exc, TimeoutError) and timeout is not None:
                error = f"TimeoutError: attempt {job.attempts} timed out after {timeout:g} s"
            else:
                error = f"{type(exc).__name__}: {exc}"
            await self.outcomes.attempt_failed(job, worker_id, error, token)
            return
        with anyio.CancelScope(shield=True):
            await self.outcomes.stopped(job.id, worker_id, token)
        raise exc
