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
backend (trio starts and schedules tasks in random order). Same workload + seed ->
identical :attr:`RunResult.jobs` on asyncio and trio. (The warm-up jobs are left out of the
records and of ``RunResult.report``; they stay in the store, typed ``jobsim.warm-up``.)

``simulate`` is synchronous and safe inside Jupyter (whose kernel already runs an event loop):
it then runs on a fresh loop in a helper thread. ``simulate_async`` is the ``await``-able twin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_process
import anyio.to_thread
import sniffio

from jobsim import clock as clocks
from jobsim.domain import Job
from jobsim.events import FINAL_EVENTS, TraceEvent
from jobsim.lab_prep import (
    _PRIME,
    ENGINES,
    Sleep,
    _closed,
    _make_handler,
    _plain_sleep,
    _policies,
    _prepare,
    _recursion,
    choose_engine,
)
from jobsim.mix import Mix
from jobsim.pool import Scaler, WorkerPool
from jobsim.pool.policies import DispatchSpec
from jobsim.retry import RetryPolicy
from jobsim.run_settings import RunSettings
from jobsim.stores.base import JobStore
from jobsim.stores.memory import InMemoryJobStore
from jobsim.workload import Plan, Workload, spin, spins_for

if TYPE_CHECKING:
    from jobsim.records import RunResult
    from jobsim.trace_table import Trace

__all__ = ["ENGINES", "choose_engine", "simulate", "simulate_async"]


async def _run(
    workload: Workload | Mix,
    plan: Plan,
    *,
    workers: int,
    capacity: int,
    store: JobStore,
    retry: RetryPolicy | None,
    settings: RunSettings,
    dispatch: DispatchSpec = "fifo",
    limits: Mapping[str, Any] | None = None,
    scaler: Scaler | None = None,
) -> RunResult:
    from jobsim import records  # pandas: imported when a run is recorded, not with jobsim

    virtual = settings.clock == "virtual"
    settings.engine = "pool"
    settings.backend = sniffio.current_async_library()
    trace: Trace = []
    extend = trace.extend  # flat rows: no tuple kept per row (see jobsim.trace_table)
    total = len(plan.arrivals)
    ended = 0
    all_ended = anyio.Event()

    def counting_tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
        nonlocal ended
        extend((event, at, job_id, worker_id))
        if event in FINAL_EVENTS:
            ended += 1
            if ended == total:
                all_ended.set()

    def plain_tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
        extend((event, at, job_id, worker_id))

    # With retries, the run ends when every job has reached an end: count the ends.
    # So does a scaled run: its scaler must keep working until then, not stop at shutdown.
    wait_for_ends = workload.max_attempts > 1 or scaler is not None
    tracer = counting_tracer if wait_for_ends else plain_tracer

    sequencer = clocks.Sequencer() if virtual else None
    sleep: Sleep = sequencer.bind() if sequencer is not None else _plain_sleep()
    runs: dict[tuple[int, int], int] = {}
    primed = anyio.Event()
    all_held = anyio.Event()
    prime_held = 0
    prime_left = workers

    async def warm_up(job: Job) -> None:
        # Every worker holds exactly one of these: none finishes before all are held (else
        # the first worker the backend happens to start could take two and another none).
        # Then they finish in worker-id order, so the workers line up on the channel in that
        # order on every backend, whatever order the backend started them in.
        nonlocal prime_held, prime_left
        assert job.worker_id is not None
        prime_held += 1
        if prime_held == workers:
            all_held.set()
        await all_held.wait()
        await sleep(0.0, (-1, int(job.worker_id.rpartition("-")[2])))
        prime_left -= 1
        if prime_left == 0:
            primed.set()

    handler = _make_handler(workload, plan, runs, sleep, warm_up)

    if workload.kind == "cpu-process":
        # Start the worker processes before the clock runs (spawning one takes far longer
        # than a job): one concurrent call per worker, each long enough to overlap.
        warm_spins = spins_for(0.05)
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(functools.partial(anyio.to_process.run_sync, spin, warm_spins))
    submitted: list[Job] = []
    pool = WorkerPool(
        store,
        handler,
        workers=workers,
        capacity=capacity,
        tracer=tracer,
        retry=retry,
        dispatch=dispatch,
        limits=limits,
        scaler=scaler,
    )
    wall = time.perf_counter()
    async with anyio.create_task_group() as tg:
        if sequencer is not None:
            tg.start_soon(sequencer.run, name="jobsim sequencer")
        async with pool:
            if sequencer is not None:
                for _ in range(workers):
                    await pool.submit(Job(type=_PRIME))
                await primed.wait()
                await clocks.wait_idle()  # every worker is back on the channel, in order
                trace.clear()
            now = clocks.loop_clock()
            t0 = now()
            initial_workers = pool.live_workers
            classes, job_class = plan.classes, plan.job_class
            # One job per class through Job()'s checks; the others are its twins (the ids
            # and {"i": index} payloads are well-formed by construction).
            kinds = [
                Job(
                    type=c.type,
                    payload={"i": 0},
                    id="job-0",
                    max_attempts=c.max_attempts,
                    priority=c.priority,
                    ttl=c.ttl,
                )
                for c in classes
            ]
            submit = pool.submit
            blocked = 0  # submits that found the channel full: backpressure on the arrivals
            # With room for every job at once (an open system) the channel is never full.
            may_block = capacity < total
            for index, at in enumerate(plan.arrivals):
                delay = t0 + at - now()
                if delay > 0:
                    await sleep(delay, (1, index))
                job = kinds[job_class[index]]._twin(f"job-{index}", {"i": index})
                if may_block and pool.queue_depth >= capacity:
                    blocked += 1
                submitted.append(await submit(job))
            if wait_for_ends and total:
                # Failed attempts come back after their backoff: a drained channel is not
                # the end. Wait until every job has reached an end.
                await all_ended.wait()
            shutdown_at = now()
            report = await pool.shutdown()
            if sequencer is not None:  # the warm-up jobs are not the workload's
                report = dataclasses.replace(report, completed=report.completed - workers)
        tg.cancel_scope.cancel()
    settings.wall_time = time.perf_counter() - wall
    settings.blocked_submits = blocked
    if isinstance(store, InMemoryJobStore):
        jobs = submitted  # the store keeps these very objects: nothing to read back
    else:
        jobs = [await store.get(job.id) for job in submitted]
    return records.build(
        jobs,
        trace,
        runs,
        report,
        workers=workers,
        t0=t0,
        arrived=plan.arrivals,
        settings=settings,
        plan=plan,
        initial_workers=initial_workers,
        shutdown_at=shutdown_at,
    )


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
        _run,
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
        result = await _run(
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
