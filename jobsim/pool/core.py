"""WorkerPool: the parts put together, and the order they start and stop in.

The parts (each a module of this package): the **intake** (submit, deliver, backpressure,
the closing gate) -> the **dispatch** (who runs next; push mode) -> the **crew** of workers
running their **mode**'s loop (push: take from the dispatch and claim; pull: claim from a
shared store with leases) -> the **runner** (the handler under its timeout) -> the
**outcomes** recorder (complete / fail / retry / release / cancel, and the
:class:`~jobsim.pool.stats.PoolStats` behind ``ShutdownReport`` and ``/health``).

Kept from the Go service: one bounded channel read by every worker (fan-out), the store's
atomic claim decides who runs a job (a job delivered twice runs once; no locks here), and
shutdown in reverse dependency order: stop intake -> wait for in-flight submits -> close the
channel -> workers finish -> join every worker task. :meth:`WorkerPool.shutdown` does exactly
that; it cannot close the channel under a sender or leave a job ``processing``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import anyio.lowlevel

from jobsim import checks
from jobsim.clock import loop_clock
from jobsim.domain import ClaimToken, Job, JobStatus
from jobsim.events import Tracer
from jobsim.pool.crew import Crew
from jobsim.pool.dispatch import ChannelDispatch, Dispatch
from jobsim.pool.intake import Intake, State
from jobsim.pool.modes import Mode
from jobsim.pool.outcomes import Outcomes
from jobsim.pool.pull import PullMode
from jobsim.pool.push import PushMode
from jobsim.pool.runner import Handler, Runner
from jobsim.pool.scalers import Scaler
from jobsim.pool.stats import PoolStats, ShutdownReport
from jobsim.retry import RetryPolicy
from jobsim.stores.base import JobStore, LeasingJobStore

__all__ = ["WorkerPool"]

logger = logging.getLogger("jobsim.pool")
worker_logger = logging.getLogger("jobsim.worker")


def _unstarted() -> float:
    raise RuntimeError("the pool has not started; use 'async with WorkerPool(...)'")


class WorkerPool:
    """A pool of ``workers`` tasks running ``handler`` on jobs from ``store``.

    Use it as an async context manager; leaving the block shuts down gracefully (drain)::

        async with WorkerPool(InMemoryJobStore(), handler, workers=10, capacity=100) as pool:
            await pool.submit(Job(type="email", payload={"to": "a@example.com"}))
            report = await pool.shutdown()   # optional: the block's exit does it too

    Args:
        store: the source of truth (see :class:`~jobsim.stores.JobStore`).
        handler: ``async def handler(job) -> result``. A return completes the job; an exception
            fails the attempt (the pool keeps running) and, if the job has attempts left,
            retries it after the ``retry`` policy's delay.
        workers: number of worker tasks (>= 1); :meth:`resize` changes it while running.
        capacity: slots in the bounded channel (>= 1); ``submit`` waits when it is full.
        name: prefix of worker ids (``"worker-1"``, ...); make it unique per process when
            several processes share a store.
        clock: returns the current time for job timestamps; default: the event loop's clock.
        tracer: optional observer of every job event (see :data:`~jobsim.events.Tracer`).
        retry: spacing of retries for jobs with ``max_attempts > 1`` (default
            ``RetryPolicy()``: 1 s, 2 s, 4 s, ... with full jitter).
        job_timeout: default seconds an attempt may run (a job's own ``timeout`` wins).
        lease: pull mode for shared stores: claim with ``store.claim_next`` for ``lease``
            seconds, renewed while the job runs (see :mod:`jobsim.pool.pull`).
        poll_interval: in pull mode, the longest an idle worker waits before looking again.
        scaler: a policy that resizes the pool while it runs (:class:`~jobsim.Schedule`,
            :class:`~jobsim.Autoscaler`), on the pool's clock; stopped when shutdown begins.
    """

    def __init__(
        self,
        store: JobStore,
        handler: Handler,
        *,
        workers: int = 10,
        capacity: int = 100,
        name: str = "worker",
        clock: Callable[[], float] | None = None,
        tracer: Tracer | None = None,
        retry: RetryPolicy | None = None,
        job_timeout: float | None = None,
        lease: float | None = None,
        poll_interval: float = 1.0,
        scaler: Scaler | None = None,
    ) -> None:
        checks.count("workers", workers)
        checks.count("capacity", capacity)
        if not callable(handler):
            raise TypeError(f"handler must be an async callable taking a Job, got {handler!r}")
        checks.seconds("job_timeout", job_timeout)
        checks.seconds("lease", lease)
        checks.seconds("poll_interval", poll_interval)
        if scaler is not None and not isinstance(scaler, Scaler):
            raise TypeError(
                f"scaler must have 'async def run(pool)' (e.g. Schedule or Autoscaler), "
                f"got {scaler!r}"
            )
        if lease is not None and not isinstance(store, LeasingJobStore):
            raise TypeError(
                f"lease= (pull mode) needs a store shared between processes with claim_next, "
                f"renew, requeue_expired and wait_for_jobs; {type(store).__name__} has not"
            )
        self.store = store
        self.handler = handler
        self.capacity = capacity
        self.retry = retry if retry is not None else RetryPolicy()
        self.job_timeout = job_timeout
        self.lease = lease
        self.poll_interval = poll_interval
        self.scaler = scaler
        self._clock = clock
        self._tracer = tracer
        #: what this pool did so far (read by ShutdownReport, /health and /metrics)
        self.stats = PoolStats()
        self._crew = Crew(name, workers, self.stats, _unstarted, tracer)
        self._crew.plan_ids(workers)
        self._intake = Intake(store, None, _unstarted, tracer)
        # Submit straight into the intake: no extra coroutine per job.
        self.submit = self._intake.submit  # type: ignore[method-assign]
        self._mode: Mode | None = None
        self._dispatch: Dispatch | None = None
        self._outcomes: Outcomes | None = None
        self._runner: Runner | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._workers_scope: anyio.CancelScope | None = None
        self._timers_scope: anyio.CancelScope | None = None
        self._report: ShutdownReport | None = None
        self._shutdown_done: anyio.Event | None = None

    def __repr__(self) -> str:
        mode = f" lease={self.lease}" if self.lease is not None else ""
        return (
            f"<WorkerPool {self.state} workers={self.workers} capacity={self.capacity}{mode} "
            f"queued={self.queue_depth} running={self.busy}>"
        )

    # -- what it is doing ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """``new``, ``running``, ``closing`` (shutdown in progress) or ``closed``."""
        return self._intake.state

    @property
    def workers(self) -> int:
        """How many workers the pool aims for (the last size asked for)."""
        return self._crew.target

    @property
    def live_workers(self) -> int:
        """Worker tasks running now (above :attr:`workers` while surplus ones finish a job)."""
        return len(self._crew.live)

    @property
    def worker_ids(self) -> list[str]:
        """Every worker id this pool has started (or will start), in order."""
        return self._crew.ids

    @property
    def processed(self) -> dict[str, int]:
        """Attempts each worker finished: ``{worker_id: count}``."""
        return self.stats.processed

    @property
    def queue_depth(self) -> int:
        """Jobs waiting in the dispatch (not yet taken by a worker)."""
        return 0 if self._mode is None else self._mode.depth

    @property
    def running(self) -> dict[str, str]:
        """Jobs whose handler is running now: ``{job_id: worker_id}`` (a copy)."""
        return {} if self._runner is None else dict(self._runner.running)

    @property
    def busy(self) -> int:
        """Workers currently running a handler."""
        return 0 if self._runner is None else len(self._runner.running)

    def health(self) -> dict[str, Any]:
        """Gauges and totals for a health endpoint: ``status`` (the state), ``workers``,
        ``live_workers``, ``busy``, ``queue_depth``, ``capacity`` and ``totals`` (the
        :class:`PoolStats` counters)."""
        return {
            "status": self.state,
            "workers": self.workers,
            "live_workers": self.live_workers,
            "busy": self.busy,
            "queue_depth": self.queue_depth,
            "capacity": self.capacity,
            "totals": self.stats.counters(),
        }

    # Counters, kept readable as attributes of the pool.
    completed = property(lambda self: self.stats.completed, doc="Jobs completed so far.")
    failed = property(lambda self: self.stats.failed, doc="Jobs failed for good so far.")
    interrupted = property(lambda self: self.stats.interrupted, doc="Jobs interrupted.")
    duplicates_skipped = property(
        lambda self: self.stats.duplicates_skipped, doc="Deliveries whose claim lost."
    )
    retried = property(lambda self: self.stats.retried, doc="Attempts followed by another.")
    cancelled = property(lambda self: self.stats.cancelled, doc="Jobs cancelled so far.")

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self.state != "new":
            raise RuntimeError("a WorkerPool can be entered only once; create a new one")
        clock = self._clock if self._clock is not None else loop_clock()
        self._clock = clock
        store, tracer, crew, intake = self.store, self._tracer, self._crew, self._intake
        crew.clock = intake.clock = clock
        crew.debug = worker_logger.isEnabledFor(logging.DEBUG)
        if self.lease is None:
            self._dispatch = ChannelDispatch(self.capacity)
            intake._dispatch = self._dispatch
        outcomes = Outcomes(
            store,
            self.stats,
            clock,
            tracer,
            self.retry,
            intake,
            self._retry_later,
            crew.debug,
        )
        self._outcomes = outcomes
        runner = self._runner = Runner(self.handler, self.job_timeout, outcomes, tracer)
        if self.lease is None:
            assert self._dispatch is not None
            self._mode = PushMode(store, self._dispatch, crew, runner, outcomes, intake)
        else:
            assert isinstance(store, LeasingJobStore)
            self._mode = PullMode(
                store, self.lease, self.poll_interval, crew, runner, outcomes, intake
            )
        self._shutdown_done = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        try:
            await tg.start(self._supervise, name="jobsim pool")
        except BaseException as exc:
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        intake.state = "running"
        if self.scaler is not None:  # once running: its first resize may come at once
            outcomes.start_timer(functools.partial(self.scaler.run, self), "jobsim scaler")
        logger.debug("pool started: %d workers, capacity %d", self.workers, self.capacity)
        return self

    async def _retry_later(
        self, job: Job, worker_id: str, delay: float, error: str, token: ClaimToken | None
    ) -> None:
        assert self._mode is not None
        await self._mode.retry_later(job, worker_id, delay, error, token)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._task_group
        assert tg is not None
        if exc is None:
            await self.shutdown(drain=True)
        elif self.state != "closed":
            # The block raised (or was cancelled): stop at once; running jobs go back to pending.
            self._intake.close()
            self._stop_taking()
            for scope in (self._timers_scope, self._workers_scope):
                if scope is not None:
                    scope.cancel()
            self._intake.state = "closed"
        # Join the workers. The block's own exception (if any) is not handed to the task
        # group, so it propagates as it is instead of wrapped in an ExceptionGroup.
        await tg.__aexit__(None, None, None)
        return None

    async def _supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run workers (and retry timers, lease keepers) in task groups of their own, so a
        deadline can cancel them without cancelling the code in the user's ``async with``."""
        mode, outcomes = self._mode, self._outcomes
        assert mode is not None and outcomes is not None
        async with anyio.create_task_group() as workers:
            self._workers_scope = workers.cancel_scope
            self._crew.start(workers, mode.loop, mode.wake_idle)
            mode.start(workers)  # beside the workers: leases are kept through the drain
            async with anyio.create_task_group() as timers:
                self._timers_scope = timers.cancel_scope
                outcomes.start_timers(timers)
                task_status.started()
                await anyio.sleep_forever()  # until shutdown cancels the timers

    def _stop_taking(self) -> None:
        self._crew.stop()
        self._intake.discarding = True

    def now(self) -> float:
        """The pool's clock (virtual in the lab): the time its job timestamps use."""
        assert self._clock is not None, "the pool has not started"
        return self._clock()

    _now = now

    # -- intake ------------------------------------------------------------------------------

    async def submit(self, job: Job) -> Job:
        """Store ``job`` as pending and deliver it to the workers; returns the job.

        Waits while the channel is full (backpressure). Raises :class:`PoolClosed` once
        shutdown has begun (before the job is stored, so nothing is half-accepted).
        """
        return await self._intake.submit(job)  # (replaced per instance by the intake's own)

    async def deliver(self, job_id: str) -> None:
        """Deliver an already-stored job (again). Harmless for a job that is not pending:
        the claim fails and the worker skips it. Unknown id: ``JobNotFound``.

        In pull mode the store is the channel, so this only checks the id."""
        await self._intake.deliver(job_id)

    # -- how many run --------------------------------------------------------------------------

    async def resize(self, workers: int) -> None:
        """Run ``workers`` workers from now on.

        Growing starts the new workers at once. Shrinking never interrupts a job: a surplus
        worker that runs one finishes it and then exits; idle surplus workers exit at once.
        :attr:`workers` is the new target right away; :attr:`live_workers` follows. Raises
        :class:`PoolClosed` unless the pool is running.
        """
        checks.count("workers", workers)
        if self.state != "running":
            self._intake.refuse("resize")
        if workers != self._crew.target:
            logger.info("resize: %d -> %d workers", self._crew.target, workers)
            self._crew.resize(workers)
        await anyio.lowlevel.checkpoint()

    # -- cancellation ------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job: True if it ended ``cancelled``, False if it had already finished.

        A pending job is cancelled in the store. A job whose handler runs in this pool is
        cancelled cooperatively (its worker's cancel scope) and ends ``cancelled``, not
        ``failed``; this waits until the worker has recorded that. Unknown id: ``JobNotFound``.
        """
        job = await self.store.get(job_id)
        outcomes, runner = self._outcomes, self._runner
        worker_id = None if runner is None else runner.running.get(job_id)
        if worker_id is None or outcomes is None:
            if job.is_final:
                return False
            if outcomes is None:
                return await self.store.cancel(job_id, at=self._now())
            return await outcomes.cancel_pending(job_id)
        request, new = outcomes.request_cancel(job_id)
        if new:
            self._crew.live[worker_id].scope.cancel()
        await request.done.wait()
        return request.cancelled

    # -- shutdown ----------------------------------------------------------------------------

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> ShutdownReport:
        """Stop the pool in the Go service's order and report what is left.

        1. Intake closes: ``submit``/``deliver`` raise :class:`PoolClosed` from now on, and
           jobs waiting for a retry stay pending in the store.
        2. Submits already in progress finish delivering (with ``drain=False`` their wait is
           cut short; their jobs stay pending in the store).
        3. The channel closes.
        4. Workers finish: with ``drain=True`` they run every queued job first; with
           ``drain=False`` each stops after its current job and queued jobs stay pending.
           With ``timeout`` (seconds), jobs still running at the deadline are cancelled and
           put back to pending: never left ``processing``, never lost.
        5. Every worker task is joined.

        In pull mode there is no channel to drain: workers finish their current job and stop.
        Calling it again (or concurrently) waits for the first call and returns its report.
        """
        if timeout is not None and not (timeout >= 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be None or a finite number >= 0, got {timeout!r}")
        if self.state == "new":
            raise RuntimeError("shutdown() called on a pool that never started")
        assert self._shutdown_done is not None and self._mode is not None
        if self.state != "running":
            await self._shutdown_done.wait()
            assert self._report is not None
            return self._report
        mode, intake, crew = self._mode, self._intake, self._crew
        start = self._now()
        wall_start = time.perf_counter()
        timed_out = False
        intake.close()  # 1. intake closed
        assert self._timers_scope is not None
        self._timers_scope.cancel()  # retry timers: their jobs stay pending
        logger.info("shutdown: intake closed (drain=%s, timeout=%s)", drain, timeout)
        with anyio.move_on_after(timeout) as deadline:
            if not drain or self.lease is not None:
                self._stop_taking()
                mode.wake_idle(len(crew.live))  # pull mode: wake idle workers
            await intake.wait_idle(discard=not drain)  # 2. in-flight submits done
            mode.close()  # 3. channel closed: nobody can be sending any more
            logger.info("shutdown: channel closed with %d job(s) queued", self.queue_depth)
            await crew.wait_done()  # 4. workers finished
        if deadline.cancelled_caught:
            timed_out = True
            self._stop_taking()
            logger.warning(
                "shutdown: deadline of %ss passed; cancelling %d running job(s)",
                timeout,
                self.busy,
            )
            assert self._workers_scope is not None
            self._workers_scope.cancel()
            await intake.wait_idle(discard=True)
            mode.close()
            await crew.wait_done()
        counts = await self.store.counts()
        self._report = self.stats.report(
            pending=counts[JobStatus.PENDING],
            drained=drain and not timed_out and self.lease is None,
            timed_out=timed_out,
            elapsed=self._now() - start,
        )
        intake.state = "closed"  # 5. joined: every worker task has returned
        self._shutdown_done.set()
        logger.info(
            "shutdown complete in %.3fs: %d completed, %d failed, %d pending, %d interrupted",
            time.perf_counter() - wall_start,
            self._report.completed,
            self._report.failed,
            self._report.pending,
            self._report.interrupted,
        )
        return self._report
