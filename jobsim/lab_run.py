"""One run of a plan on the real :class:`~jobsim.WorkerPool`: the warm-up that lines the
workers up, the producer, the trace, and the records (the pool engine of :func:`jobsim.simulate`).

In virtual time every sleep that decides who runs next (a handler's service time, the
producer's wait for the next arrival) goes through a :class:`~jobsim.clock.Sequencer`, so that
sleepers due at the same instant resume in a fixed order on both backends. Before the workload
starts, each worker runs one zero-length warm-up job; the warm-ups end together, once every
worker holds one, and are released in worker-id order, so the workers queue on the channel in
the same order on every backend (trio starts and schedules tasks in random order).

Hot path: the producer submits one job per arrival, the handler sleeps one service time per
job, and the tracer extends one flat list (see :mod:`jobsim.trace_table`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_process
import sniffio

from jobsim import clock as clocks
from jobsim.domain import Job
from jobsim.events import FINAL_EVENTS, TraceEvent
from jobsim.lab_prep import _PRIME, Runs, Sleep, _make_handler, _plain_sleep
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

__all__ = ["run_on_pool"]


async def run_on_pool(
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
    """Run ``plan`` (drawn from ``workload``) on a fresh :class:`~jobsim.WorkerPool` over
    ``store`` on the running event loop, and return its records (``settings`` says how)."""
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
    runs = Runs(total)
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
        runs.duplicates(),
        report,
        workers=workers,
        t0=t0,
        arrived=plan.arrivals,
        settings=settings,
        plan=plan,
        initial_workers=initial_workers,
        shutdown_at=shutdown_at,
    )
