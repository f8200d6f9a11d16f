"""simulate(): run a Workload on the real WorkerPool, in virtual or real time, and record it.

The pool is not a model of the pool: it *is* the pool. Only the clock changes. In virtual
time (the default) ``anyio.sleep`` advances instantly and exactly, so the original Go
service's 100 jobs x 1 s take 100.0 s on 1 worker and 10.0 s on 10, in milliseconds of wall
time::

    from jobsim import simulate, Workload, Batch, Constant
    simulate(Workload(100, Batch(), Constant(1.0)), workers=10).summary["makespan"]   # 10.0

**Determinism.** A workload's numbers are drawn up front (:meth:`Workload.plan`), and in
virtual time every sleep that decides who runs next (a handler's service time, the producer's
wait for the next arrival) goes through a :class:`~jobsim.clock.Sequencer`: sleepers that wake
at the same instant resume in a fixed order (finished jobs by index, then arrivals by index),
whatever the backend's scheduler prefers. Before the workload starts, each worker runs one
zero-length warm-up job; the warm-ups end together, once every worker holds one, and are
released in worker-id order, so the workers queue on the channel in the same order on every
backend (trio starts and schedules tasks in random order; see :mod:`jobsim.lab_run`). Same
workload + seed -> identical :attr:`RunResult.jobs` on asyncio and trio. (The warm-up jobs
are left out of the records and of ``RunResult.report``; they stay in the store, typed
``jobsim.warm-up``.)

``simulate`` is synchronous and safe inside Jupyter (whose kernel already runs an event loop):
it then runs on a fresh loop in a helper thread. ``simulate_async`` is the ``await``-able twin.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import sniffio

from jobsim import clock as clocks
from jobsim.lab_prep import (
    ENGINES,
    _closed,
    _policies,
    _prepare,
    _recursion,
    choose_engine,
)
from jobsim.lab_run import run_on_pool
from jobsim.mix import Mix
from jobsim.pool import Scaler
from jobsim.pool.policies import DispatchSpec
from jobsim.retry import RetryPolicy
from jobsim.stores.base import JobStore
from jobsim.stores.memory import InMemoryJobStore
from jobsim.workload import Workload

if TYPE_CHECKING:
    from jobsim.records import RunResult

__all__ = ["ENGINES", "choose_engine", "simulate", "simulate_async"]


def simulate(
    workload: Workload | Mix,
    workers: int = 10,
    capacity: int = 100,
    clock: str = "virtual",
    backend: str = "asyncio",
    store: JobStore | None = None,
    seed: int | None = None,
    retry: RetryPolicy | None = None,
    engine: str = "auto",
    dispatch: DispatchSpec = "fifo",
    limits: Mapping[str, Any] | None = None,
    scaler: Scaler | None = None,
    loop: str = "asyncio",
) -> RunResult:
    """Run ``workload`` on a :class:`~jobsim.WorkerPool` and return its records.

    Args:
        workload: what to run (see :class:`~jobsim.Workload`), or several job classes at
            once (:class:`~jobsim.Mix`).
        workers, capacity: the pool's size and channel slots. A full channel blocks the
            producer (backpressure), which delays later arrivals, so waits and latencies
            are no longer those of the workload's arrival process. Which to choose:
            ``capacity=workload.jobs`` for an open system (M/M/c, capacity planning,
            comparisons with :mod:`jobsim.theory`); a small capacity only to study
            backpressure itself. When a timed workload's arrivals were held up, one
            :class:`~jobsim.records.BackpressureWarning` says so, and ``RunResult.jobs``
            shows each job's planned ``arrived`` next to its actual ``submitted``.
        clock: ``"virtual"`` (instant, exact, deterministic) or ``"real"``.
        backend: ``"asyncio"`` or ``"trio"``.
        store: a fresh store to run against (default: a new :class:`InMemoryJobStore`).
        seed: overrides ``workload.seed``.
        retry: the pool's retry spacing (default ``RetryPolicy(seed=seed)``).
        engine: ``"pool"`` runs the real pool; ``"recursion"`` computes the very same records
            from the plan without an event loop (:mod:`jobsim.recursion`; only for the runs
            :func:`jobsim.recursion.unsupported` accepts, else a ``ValueError`` says why);
            ``"auto"`` (default) takes the recursion when it can. ``settings.engine`` says
            which ran.
        dispatch, limits: the pool's policies (``"fifo"``, ``"priority"``,
            ``Priority(aging=...)``, ``Prefetch(k)``; ``{type: RateLimit(...) |
            Concurrency(n)}``), on the run's clock. Anything but FIFO without limits runs
            on the pool.
        scaler: resizes the pool during the run (:class:`~jobsim.Schedule`,
            :class:`~jobsim.Autoscaler`); ``RunResult.workers`` shows the worker count over
            time and the summary its cost (``worker_seconds``, ``cost_per_job``).
        loop: the asyncio event loop of a real-clock run: ``"asyncio"`` (its own) or
            ``"uvloop"`` (needs the ``uvloop`` extra); ``settings.loop`` says which ran.

    Safe to call while an event loop is running in this thread (Jupyter): the run then
    happens on a fresh loop in a helper thread, and this call blocks until it is done.
    """
    plan, settings = _prepare(workload, clock, backend, workers, capacity, seed)
    settings.loop = clocks.check_loop(loop, backend, clock)
    policy = _policies(settings, dispatch, limits)
    chosen = choose_engine(
        engine,
        workload,
        clock=clock,
        store=store,
        dispatch=dispatch,
        limits=limits,
        scaler=scaler,
    )
    if chosen == "recursion":
        result = _recursion(workload, plan, workers=workers, capacity=capacity, settings=settings)
        _warn_if_blocked(result, workload)
        return result
    retry = retry if retry is not None else RetryPolicy(seed=settings.seed)
    store = store if store is not None else InMemoryJobStore()
    main = functools.partial(
        run_on_pool,
        workload,
        plan,
        workers=workers,
        capacity=capacity,
        store=store,
        retry=retry,
        settings=settings,
        dispatch=policy,
        limits=limits,
        scaler=scaler,
    )
    with _gc_frozen():
        result = clocks.run(main, backend=backend, clock=clock, loop=loop)
    _warn_if_blocked(result, workload)
    return result


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Leave the objects that existed before the run out of the collector's full passes
    while it runs (:func:`gc.freeze`): a run allocates jobs and trace rows by the ten
    thousand, and each full pass would otherwise walk the whole interpreter's heap (pandas,
    numpy, the caller's data) again. Nothing is leaked: they return to the collector after.
    A process that froze its own objects already (a forking server, or a run in another thread)
    is left as it is, since unfreezing would hand those back too."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _warn_if_blocked(result: RunResult, workload: Workload | Mix) -> None:
    from jobsim import records

    records.warn_if_blocked(result, closed=_closed(workload), stacklevel=4)  # the caller's line


async def simulate_async(
    workload: Workload | Mix,
    workers: int = 10,
    capacity: int = 100,
    clock: str = "real",
    backend: str | None = None,
    store: JobStore | None = None,
    seed: int | None = None,
    retry: RetryPolicy | None = None,
    engine: str = "auto",
    dispatch: DispatchSpec = "fifo",
    limits: Mapping[str, Any] | None = None,
    scaler: Scaler | None = None,
) -> RunResult:
    """``await``-able :func:`simulate`, for top-level ``await`` in notebooks and async code.

    With ``clock="real"`` (the default here) and ``backend`` None or the running one, the
    run happens on the caller's event loop, so a store bound to that loop works. Virtual time
    (or another backend) needs a loop of its own: the run then happens in a worker thread
    while the caller's loop keeps serving other tasks.
    """
    running = sniffio.current_async_library()
    if clock == "real" and backend in (None, running):
        plan, settings = _prepare(workload, clock, running, workers, capacity, seed)
        policy = _policies(settings, dispatch, limits)
        choose_engine(  # the pool, or a clear error
            engine,
            workload,
            clock=clock,
            store=store,
            dispatch=dispatch,
            limits=limits,
            scaler=scaler,
        )
        result = await run_on_pool(
            workload,
            plan,
            workers=workers,
            capacity=capacity,
            store=store if store is not None else InMemoryJobStore(),
            retry=retry if retry is not None else RetryPolicy(seed=settings.seed),
            settings=settings,
            dispatch=policy,
            limits=limits,
            scaler=scaler,
        )
        _warn_if_blocked(result, workload)
        return result
    return await anyio.to_thread.run_sync(
        functools.partial(
            simulate,
            workload,
            workers=workers,
            capacity=capacity,
            clock=clock,
            backend=backend or running,
            store=store,
            seed=seed,
            retry=retry,
            engine=engine,
            dispatch=dispatch,
            limits=limits,
            scaler=scaler,
        )
    )


def __getattr__(name: str) -> Any:
    """Old homes kept working: ``sweep`` (now in :mod:`jobsim.experiments`) and the
    command line's ``main`` (now in :mod:`jobsim.lab_cli`), imported on first use."""
    if name == "sweep":
        from jobsim.experiments import sweep

        return sweep
    if name == "main":
        from jobsim.lab_cli import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
