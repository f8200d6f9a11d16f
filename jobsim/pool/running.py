"""A started pool's parts, how they are wired, run, stopped at once, and how one job is cancelled.

:class:`~jobsim.pool.core.WorkerPool` builds a :class:`Running` when its ``async with`` block
is entered; the orderly stop lives in :mod:`jobsim.pool.shutdown`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import anyio.abc

from jobsim.domain import ClaimToken, Job
from jobsim.events import Tracer
from jobsim.pool.crew import Crew
from jobsim.pool.intake import Intake
from jobsim.pool.limits import Limit
from jobsim.pool.modes import Mode
from jobsim.pool.outcomes import Outcomes
from jobsim.pool.policies import Policy, make_dispatch
from jobsim.pool.pull import PullMode
from jobsim.pool.push import PushMode
from jobsim.pool.runner import Handler, Runner
from jobsim.pool.stats import PoolStats, ShutdownReport
from jobsim.retry import RetryPolicy
from jobsim.stores.base import JobStore, LeasingJobStore

__all__ = ["Options", "Running"]


class Options(Protocol):
    """The pool's settings that its parts are built from (a :class:`WorkerPool` has them)."""

    store: JobStore
    stats: PoolStats
    handler: Handler
    capacity: int
    retry: RetryPolicy
    job_timeout: float | None
    lease: float | None
    poll_interval: float


@dataclass(eq=False)
class Running:
    """The parts of a started pool, and the task groups its workers and timers run in."""

    store: JobStore
    stats: PoolStats
    crew: Crew
    intake: Intake
    runner: Runner
    outcomes: Outcomes
    mode: Mode
    clock: Callable[[], float]
    pull: bool
    task_group: anyio.abc.TaskGroup | None = None
    workers_scope: anyio.CancelScope | None = None
    timers_scope: anyio.CancelScope | None = None
    #: set once shutdown has finished; ``report`` is its result
    done: anyio.Event = field(default_factory=anyio.Event)
    report: ShutdownReport | None = None

    @classmethod
    def wire(
        cls,
        options: Options,
        crew: Crew,
        intake: Intake,
        *,
        clock: Callable[[], float],
        tracer: Tracer | None,
        policy: Policy,
        limits: Mapping[str, tuple[Limit, ...]],
        debug: bool,
    ) -> Running:
        """Build the dispatch (push mode), outcomes, runner and mode around ``crew``/``intake``."""
        store, stats, lease = options.store, options.stats, options.lease
        crew.clock = intake.clock = clock
        crew.debug = debug
        dispatch = None
        if lease is None:
            dispatch = make_dispatch(policy, limits, options.capacity, clock)
            intake.attach(dispatch)
        mode: Mode | None = None

        async def retry_later(
            job: Job, worker_id: str, delay: float, error: str, token: ClaimToken | None
        ) -> None:
            assert mode is not None
            await mode.retry_later(job, worker_id, delay, error, token)

        outcomes = Outcomes(store, stats, clock, tracer, options.retry, intake, retry_later, debug)
        runner = Runner(options.handler, options.job_timeout, outcomes, tracer)
        if dispatch is not None:
            mode = PushMode(store, dispatch, crew, runner, outcomes, intake)
        else:
            assert isinstance(store, LeasingJobStore) and lease is not None
            mode = PullMode(store, lease, options.poll_interval, crew, runner, outcomes, intake)
        return cls(store, stats, crew, intake, runner, outcomes, mode, clock, lease is not None)

    async def start(self) -> None:
        """Start the workers and timers in a task group of the pool's own (left by :meth:`join`)."""
        tg = self.task_group = anyio.create_task_group()
        await tg.__aenter__()
        try:
            await tg.start(self.supervise, name="jobsim pool")
        except BaseException as exc:
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self.intake.state = "running"

    async def join(self) -> None:
        """Join every task. An exception of the ``async with`` block is not handed to the task
        group, so it propagates as it is instead of wrapped in an ExceptionGroup."""
        assert self.task_group is not None
        await self.task_group.__aexit__(None, None, None)

    async def supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run workers (and retry timers, lease keepers) in task groups of their own, so a
        deadline can cancel them without cancelling the code in the user's ``async with``."""
        async with anyio.create_task_group() as workers:
            self.workers_scope = workers.cancel_scope
            self.crew.start(workers, self.mode.loop, self.mode.wake_idle)
            self.mode.start(workers)  # beside the workers: leases are kept through the drain
            async with anyio.create_task_group() as timers:
                self.timers_scope = timers.cancel_scope
                self.outcomes.start_timers(timers)
                task_status.started()
                await anyio.sleep_forever()  # until shutdown cancels the timers

    def stop_taking(self) -> None:
        """Workers take no new job; jobs still delivered are dropped (they stay pending)."""
        self.crew.stop()
        self.intake.discarding = True

    def abort(self) -> None:
        """Stop at once (the ``async with`` block raised): running jobs go back to pending."""
        self.intake.close()
        self.stop_taking()
        for scope in (self.timers_scope, self.workers_scope):
            if scope is not None:
                scope.cancel()
        self.intake.state = "closed"

    async def cancel(self, job: Job) -> bool:
        """Cancel ``job`` (read from the store just now); see :meth:`WorkerPool.cancel`."""
        worker = self.crew.running_job(job.id)
        if worker is None:
            return False if job.is_final else await self.outcomes.cancel_pending(job.id)
        request, new = self.outcomes.request_cancel(job.id)
        if new:
            worker.cancel()
        await request.done.wait()
        return request.cancelled
