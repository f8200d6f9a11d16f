"""Preparing a lab run: checking the arguments, choosing the engine, building the handler.

:func:`jobsim.simulate` and :func:`jobsim.simulate_async` share these steps; the handler is
the pool's view of a :class:`~jobsim.workload.Plan`, one job of the plan per call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_process
import anyio.to_thread

from jobsim import checks
from jobsim import clock as clocks
from jobsim.domain import Job
from jobsim.mix import Mix
from jobsim.pool import Scaler
from jobsim.pool.policies import Policy
from jobsim.run_settings import RunSettings
from jobsim.stores.base import JobStore
from jobsim.workload import Plan, SimulatedFailure, Workload, spin, spins_for

if TYPE_CHECKING:
    from jobsim.records import RunResult

__all__ = ["ENGINES", "Runs", "choose_engine"]


_PRIME = "jobsim.warm-up"
Sleep = Callable[[float, Any], Awaitable[None]]


def _plain_sleep() -> Sleep:
    """Real time: no ties to break; the backend's own sleep, keyed call signature."""
    native = clocks.native_sleep()

    async def sleep(delay: float, key: Any) -> None:
        await native(delay)

    return sleep


class Runs:
    """How many times the handler ran each attempt of each job: more than once is a
    duplicate (the damage of a claim that is not atomic). First attempts, nearly every run,
    are counted in a list by job index; later ones in a dict by (index, attempt)."""

    __slots__ = ("first", "later")

    def __init__(self, jobs: int) -> None:
        self.first = [0] * jobs
        self.later: dict[tuple[int, int], int] = {}

    def duplicates(self) -> int:
        """Runs beyond one per attempt."""
        first = self.first
        extra = sum(first) - (len(first) - first.count(0))
        return extra + sum(count - 1 for count in self.later.values() if count > 1)


def _make_handler(
    workload: Workload | Mix,
    plan: Plan,
    runs: Runs,
    sleep: Sleep,
    warm_up: Callable[[Job], Awaitable[None]],
) -> Callable[[Job], Awaitable[None]]:
    """The pool's handler: one job of the plan per call (``warm_up`` for warm-up jobs).
    It sits on the hot path, so it is one flat coroutine."""
    service, failures = plan.service, plan.failures
    rate = workload.failure_rate
    first, later = runs.first, runs.later
    may_fail = rate > 0  # (else the plan's failures are all False)

    def fail(index: int, attempt: int) -> None:
        raise SimulatedFailure(
            f"injected failure (failure_rate={rate:g}): job {index}, attempt {attempt}"
        )

    if workload.kind == "sleep":

        async def handler(job: Job) -> None:
            if job.type == _PRIME:
                await warm_up(job)
                return
            index: int = job.payload["i"]
            attempt = job.attempts
            if attempt == 1:
                first[index] += 1
            else:
                key = (index, attempt)
                later[key] = later.get(key, 0) + 1
            await sleep(service[index], (0, index))
            if may_fail:
                row = failures[index]
                if attempt <= len(row) and row[attempt - 1]:
                    fail(index, attempt)

    else:
        spins = [spins_for(s) for s in service]
        offload: Any = anyio.to_thread if workload.kind == "cpu-thread" else anyio.to_process

        async def handler(job: Job) -> None:
            index: int = job.payload["i"]
            attempt = job.attempts
            if attempt == 1:
                first[index] += 1
            else:
                key = (index, attempt)
                later[key] = later.get(key, 0) + 1
            await offload.run_sync(spin, spins[index])
            row = failures[index]
            if attempt <= len(row) and row[attempt - 1]:
                fail(index, attempt)

    return handler


ENGINES = ("auto", "pool", "recursion")


def choose_engine(
    engine: str,
    workload: Workload | Mix,
    *,
    clock: str,
    store: JobStore | None,
    dispatch: object = "fifo",
    limits: object = None,
    scaler: Scaler | None = None,
) -> str:
    """``"pool"`` or ``"recursion"``: which engine runs ``engine`` (``"auto"``, ``"pool"`` or
    ``"recursion"``) for this run. ``"recursion"`` on a run the recursion cannot describe is
    a ``ValueError`` listing why (see :func:`jobsim.recursion.unsupported`)."""
    from jobsim import recursion

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine == "pool":
        return "pool"
    reasons = recursion.unsupported(
        workload, clock=clock, store=store, dispatch=dispatch, limits=limits, scaler=scaler
    )
    if not reasons:
        return "recursion"
    if engine == "recursion":
        raise ValueError(
            "engine='recursion' cannot run this: " + "; ".join(reasons) + " (use engine='pool')"
        )
    return "pool"


def _recursion(
    workload: Workload | Mix, plan: Plan, *, workers: int, capacity: int, settings: RunSettings
) -> RunResult:
    from jobsim import recursion

    settings.engine = "recursion"
    wall = time.perf_counter()
    result = recursion.run(workload, plan, workers=workers, capacity=capacity, settings=settings)
    settings.wall_time = time.perf_counter() - wall
    return result


def _prepare(
    workload: Workload | Mix,
    clock: str,
    backend: str,
    workers: int,
    capacity: int,
    seed: int | None,
) -> tuple[Plan, RunSettings]:
    if not isinstance(workload, Workload | Mix):
        raise TypeError(f"simulate() needs a Workload or a Mix, got {type(workload).__name__}")
    clocks.check_backend(backend)
    clocks.check_clock(clock)
    if clock == "virtual" and workload.is_cpu_bound:
        raise clocks.VirtualTimeError(
            f"kind={workload.kind!r} does real CPU work in threads or processes, which takes "
            "real time that the virtual clock cannot skip; use clock='real' "
            "(or kind='sleep' to model the work as waiting)"
        )
    checks.count("workers", workers)
    checks.count("capacity", capacity)
    run_seed = workload.seed if seed is None else seed
    settings = RunSettings(
        clock=clock,
        backend=backend,
        workers=workers,
        capacity=capacity,
        seed=run_seed,
        kind=workload.kind,
    )
    return workload.plan(run_seed), settings


def _closed(workload: Workload | Mix) -> bool:
    """Every job there at t = 0 (``Batch()`` arrivals, in every class of a mix)."""
    from jobsim.workload import Batch

    parts = workload.classes.values() if isinstance(workload, Mix) else [workload]
    return all(isinstance(part.arrivals, Batch) for part in parts)


def _policies(settings: RunSettings, dispatch: object, limits: object) -> Policy:
    """Check ``dispatch=``/``limits=`` before anything runs; note them in the settings."""
    from jobsim.pool.policies import describe, validate

    policy, checked = validate(dispatch, limits)
    settings.dispatch = describe(policy) + ("+limits" if checked else "")
    return policy
