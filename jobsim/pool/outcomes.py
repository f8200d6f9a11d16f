"""The outcome recorder: the one place that writes how an attempt ended.

complete, fail, retry, release (interrupted by a shutdown deadline), cancel, and skip (a
duplicate delivery whose claim lost): each updates the store, the :class:`PoolStats`, the
tracer and the log together, so they never disagree. How a retry waits differs by mode
(push: back to pending, delivered again after the delay; pull: the claim is held through the
delay, then released) and is the mode's :meth:`~jobsim.pool.modes.Mode.retry_later`.

Every write carries the claim's token (worker and attempt, see
:class:`~jobsim.domain.ClaimToken`), so the store accepts it only while this claim is current.
If it refuses (the lease lapsed and another worker took the job over, or someone cancelled it
through the store), their decision stands: the outcome is logged, counted as ``refused`` and
never as completed or failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from jobsim.domain import ClaimLost, ClaimToken, InvalidTransition, Job
from jobsim.events import TraceEvent, Tracer
from jobsim.pool.stats import PoolStats
from jobsim.retry import RetryPolicy
from jobsim.sequencer import tie_sleep
from jobsim.stores.base import JobStore, NonBlockingJobStore

if TYPE_CHECKING:
    from jobsim.pool.intake import Intake

__all__ = ["CancelRequest", "Outcomes"]

worker_logger = logging.getLogger("jobsim.worker")

_COMPLETED = TraceEvent.COMPLETED


class CancelRequest:
    """A pending ``cancel(job_id)`` of a running job: set once its worker recorded the end."""

    __slots__ = ("cancelled", "done")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.cancelled = False


class Outcomes:
    """Records the end of every attempt of one pool (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        stats: PoolStats,
        clock: Callable[[], float],
        tracer: Tracer | None,
        retry: RetryPolicy,
        intake: Intake,
        retry_later: Callable[[Job, str, float, str, ClaimToken | None], Awaitable[None]],
        debug: bool,
    ) -> None:
        self.store = store
        self.stats = stats
        self.clock = clock
        self.tracer = tracer
        self.retry = retry
        self.intake = intake
        self.retry_later = retry_later
        self.debug = debug
        #: job id -> request, for running jobs whose cancellation was asked for
        self.cancelling: dict[str, CancelRequest] = {}
        #: the store's own complete_nowait (None unless it declares NonBlockingJobStore)
        self.store_complete_nowait = (
            store.complete_nowait if isinstance(store, NonBlockingJobStore) else None
        )
        self._timers: anyio.abc.TaskGroup | None = None
        self._retries = 0  # backoffs begun: their tie-break order in virtual time

    def start_timers(self, group: anyio.abc.TaskGroup) -> None:
        """Run retry timers in ``group``, which shutdown cancels first."""
        self._timers = group

    def start_timer(self, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run ``work`` (a retry's wait) in the timers' group."""
        assert self._timers is not None
        self._timers.start_soon(work, name=name)

    def backoff(self) -> Callable[[float], Awaitable[None]]:
        """The sleep for a retry that begins now, in either mode.

        In virtual time, backoffs ending at the same instant wake in the order they began (and
        before the lab's other sleepers due then), on every backend: a plain sleep on trio
        would wake them in an order of its scheduler's choosing."""
        sequenced = tie_sleep()
        if sequenced is None:
            return anyio.sleep
        self._retries += 1
        key = (-2, self._retries)
        return lambda delay: sequenced(delay, key)

    async def _write(self, write: Awaitable[Any], job_id: str, worker_id: str) -> bool:
        """Await a store write that ends a claim; False if the store refused it."""
        try:
            await write
        except InvalidTransition as exc:
            self.refused(job_id, worker_id, exc)
            return False
        return True

    def refused(self, job_id: str, worker_id: str, exc: InvalidTransition) -> None:
        self.stats.refused += 1
        what = "claim lost" if isinstance(exc, ClaimLost) else "outcome dropped"
        worker_logger.warning("%s: job %s: %s: %s", worker_id, job_id, what, exc)

    def _trace(self, event: TraceEvent, job_id: str, worker_id: str | None) -> None:
        if self.tracer is not None:
            self.tracer(event, self.clock(), job_id, worker_id)

    # -- completed ----------------------------------------------------------------------------

    def complete_nowait(
        self, job_id: str, worker_id: str, result: Any, token: ClaimToken | None
    ) -> bool:
        """Record a completion without awaiting, if the store allows it; False otherwise
        (then call :meth:`complete`). The hot path of every successful job."""
        complete_nowait = self.store_complete_nowait
        if complete_nowait is None or job_id in self.cancelling:
            return False
        clock = self.clock
        try:
            complete_nowait(job_id, result, at=clock(), token=token)
        except InvalidTransition as exc:
            self.refused(job_id, worker_id, exc)
            return True
        stats = self.stats
        stats.completed += 1
        stats.processed[worker_id] += 1
        if self.tracer is not None:
            self.tracer(_COMPLETED, clock(), job_id, worker_id)
        if self.debug:
            worker_logger.debug("%s: completed %s", worker_id, job_id)
        return True

    async def complete(
        self, job_id: str, worker_id: str, result: Any, token: ClaimToken | None
    ) -> None:
        """Record a completion through the store's coroutine."""
        request = self.cancelling.pop(job_id, None)
        write = self.store.complete(job_id, result, at=self.clock(), token=token)
        try:  # _write's work, inlined: every job of a store that waits comes through here
            if request is None:  # the common case: no cancel scope (~10 µs on asyncio)
                await write
            else:
                with anyio.CancelScope(shield=True):  # cancel() came too late
                    await write
        except InvalidTransition as exc:
            self.refused(job_id, worker_id, exc)
            return
        finally:
            if request is not None:
                request.done.set()
        self.stats.completed += 1
        self.stats.processed[worker_id] += 1
        self._trace(_COMPLETED, job_id, worker_id)
        if self.debug:
            worker_logger.debug("%s: completed %s", worker_id, job_id)

    # -- failed, retried ----------------------------------------------------------------------

    async def attempt_failed(
        self, job: Job, worker_id: str, error: str, token: ClaimToken | None
    ) -> None:
        """The handler raised (or timed out): retry if attempts are left, else fail."""
        job_id = job.id
        attempts = job.attempts
        stats = self.stats
        stats.processed[worker_id] += 1
        if attempts < job.max_attempts and not self.intake.is_open:
            # Shutting down: no new timers; the job keeps its remaining attempts, pending.
            stats.retried += 1
            await self.release(job_id, worker_id, error, token)
            return
        if attempts < job.max_attempts:
            delay = self.retry.delay(attempts)
            stats.retried += 1
            self._trace(TraceEvent.RETRYING, job_id, worker_id)
            worker_logger.info(
                "%s: job %s attempt %d/%d failed (%s); retrying in %.3g s",
                worker_id,
                job_id,
                attempts,
                job.max_attempts,
                error,
                delay,
            )
            await self.retry_later(job, worker_id, delay, error, token)
            return
        failed = self.store.fail(job_id, error, at=self.clock(), token=token)
        if not await self._write(failed, job_id, worker_id):
            return
        stats.failed += 1
        self._trace(TraceEvent.FAILED, job_id, worker_id)
        worker_logger.warning("%s: job %s failed: %s", worker_id, job_id, error)

    async def release(
        self, job_id: str, worker_id: str, error: str, token: ClaimToken | None
    ) -> None:
        """Hand a claimed job back to pending (its attempts stay counted)."""
        await self._write(self.store.release(job_id, error, token=token), job_id, worker_id)

    # -- stopped while running: cancelled or interrupted ------------------------------------------

    async def stopped(self, job_id: str, worker_id: str, token: ClaimToken | None) -> None:
        """The handler was cancelled: by :meth:`request_cancel` (the job ends cancelled) or by
        a shutdown deadline (back to pending, never left processing). Call shielded."""
        request = self.cancelling.pop(job_id, None)
        if request is not None:
            await self._write(self.store.cancel(job_id, at=self.clock()), job_id, worker_id)
            self.stats.cancelled += 1
            request.cancelled = True
            request.done.set()
            event = TraceEvent.CANCELLED
        else:
            interrupted = "interrupted: the pool stopped while it ran"
            await self._write(
                self.store.release(job_id, interrupted, token=token), job_id, worker_id
            )
            self.stats.interrupted += 1
            event = TraceEvent.RELEASED
        self._trace(event, job_id, worker_id)
        worker_logger.info("%s: job %s %s", worker_id, job_id, event)

    def request_cancel(self, job_id: str) -> tuple[CancelRequest, bool]:
        """The request for a running job's cancellation, and whether it is new."""
        request = self.cancelling.get(job_id)
        if request is not None:
            return request, False
        request = self.cancelling[job_id] = CancelRequest()
        return request, True

    async def cancel_pending(self, job_id: str) -> bool:
        """Cancel a job that no worker of this pool runs, in the store."""
        cancelled = await self.store.cancel(job_id, at=self.clock())
        if cancelled:
            self.stats.cancelled += 1
            self._trace(TraceEvent.CANCELLED, job_id, None)
        return cancelled

    # -- skipped ------------------------------------------------------------------------------

    def expired(self, job_id: str, worker_id: str, at: float) -> None:
        """A job taken after its ttl passed: the claim refused it and it ended ``expired``."""
        self.stats.expired += 1
        if self.tracer is not None:
            self.tracer(TraceEvent.EXPIRED, at, job_id, worker_id)
        if self.debug:
            worker_logger.debug("%s: %s expired before it started", worker_id, job_id)

    def skipped(self, job_id: str, worker_id: str, at: float) -> None:
        """A delivery whose claim lost: the job was taken already (a duplicate)."""
        self.stats.duplicates_skipped += 1
        if self.tracer is not None:
            self.tracer(TraceEvent.SKIPPED, at, job_id, worker_id)
        if self.debug:
            worker_logger.debug("%s: skipped %s (already claimed)", worker_id, job_id)
