"""Teaching demos: broken and fixed twins of the seed's classic concurrency bugs.

Each demo is seeded and deterministic (virtual time on asyncio, see :mod:`jobsim.clock`), runs
in well under a second, and returns a report whose frames a notebook can plot:

* :func:`duplicate_race` -- every job delivered twice to a real :class:`~jobsim.WorkerPool`.
  :class:`~jobsim.RacyStore` (check, checkpoint, set) runs some jobs twice; the atomic claim
  of :class:`~jobsim.InMemoryJobStore` runs each exactly once.
* :func:`shutdown` -- the seed's service (a producer, one bounded channel, workers, a store)
  stopped in the right order (the real :meth:`WorkerPool.shutdown`) or in three wrong ones:
  closing the channel first crashes the producer with :class:`anyio.ClosedResourceError`
  (Go's "send on closed channel" panic); cancelling the workers first or not waiting for them
  leaves jobs stuck ``processing`` and queued jobs never run.
* :func:`closure_capture` -- closures created in a loop read the loop variable when they
  *run*, so every worker reports the same id; three fixes.

``python -m jobsim demo NAME [--fixed]`` narrates a demo at the terminal (:func:`main`).
pandas is imported inside the functions so that importing this module stays light.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import random
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import sniffio
from anyio.streams.memory import MemoryObjectReceiveStream

from jobsim import checks
from jobsim.domain import Job, JobStatus
from jobsim.events import WORKER_EVENTS, TraceEvent
from jobsim.pool import WorkerPool
from jobsim.stores import InMemoryJobStore, RacyStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SHUTDOWN_ORDERS",
    "ClosureCaptureReport",
    "DuplicateRaceReport",
    "ShutdownDemoReport",
    "closure_capture",
    "duplicate_race",
    "main",
    "shutdown",
]

T = TypeVar("T")

ShutdownOrder = Literal["correct", "close-channel-first", "cancel-workers-first", "no-wait"]

#: The shutdown orders :func:`shutdown` knows, with what each does (for help texts).
SHUTDOWN_ORDERS: dict[str, str] = {
    "correct": "stop intake -> close the channel -> workers finish -> wait for every worker",
    "close-channel-first": "close the channel while the producer still sends",
    "cancel-workers-first": "cancel the workers while they run jobs, then stop intake",
    "no-wait": "stop intake, close the channel, exit without waiting for the workers",
}

_STORES = ("racy", "memory")
_CLOSURE_FIXES = ("argument", "default", "partial")


# -- running a demo in virtual time ---------------------------------------------------------


def _run_virtual(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``fn`` on a fresh asyncio loop on virtual time (:mod:`jobsim.clock`): sleeps take
    no real time, and asyncio wakes tasks in a fixed order (FIFO, ties in scheduling order),
    so a demo repeats exactly. Safe inside Jupyter: when this thread already runs an event
    loop, the demo runs on a thread of its own."""
    from jobsim.clock import run as run_on_clock

    def run() -> T:
        return run_on_clock(fn, backend="asyncio", clock="virtual")

    if not _in_async_context():
        return run()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jobsim-demo") as ex:
        return ex.submit(run).result()


def _in_async_context() -> bool:
    """Whether this thread already runs an event loop (Jupyter's asyncio, or trio)."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    try:
        sniffio.current_async_library()
        return True
    except sniffio.AsyncLibraryNotFoundError:
        return False


class _Recorder:
    """Two ordered logs on the virtual clock: ``events`` (who stopped when, short labels for
    the plot) and ``trace`` (the same events told in full, plus every job event, for the
    narration)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.trace: list[dict[str, Any]] = []

    def event(
        self,
        actor: str,
        event: str,
        told: str | None = None,
        *,
        problem: bool = False,
        at: float | None = None,
    ) -> None:
        """A lifecycle event: ``event`` (short) in both logs, or ``told`` in the trace."""
        at = anyio.current_time() if at is None else at
        row = {"time": at, "actor": actor, "event": event, "problem": problem}
        self.events.append(row)
        self.trace.append(row if told is None else row | {"event": told})

    def detail(self, actor: str, event: str, *, at: float | None = None, **extra: Any) -> None:
        """A job event (trace only)."""
        at = anyio.current_time() if at is None else at
        self.trace.append({"time": at, "actor": actor, "event": event, "problem": False, **extra})

    @staticmethod
    def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        """The rows as a frame, in time order (a stable sort: rows logged after the fact, such
        as the pool workers' exits, move to their time; ties keep the order they were logged
        in). Workers cancelled together die in an arbitrary order (the event loop keeps tasks
        in a set), so each run of same-instant "killed" events is put in worker order: a
        demo's log then repeats exactly."""
        import pandas as pd

        if not rows:
            return pd.DataFrame(columns=["time", "actor", "event", "problem"])
        ordered: list[dict[str, Any]] = []
        run: list[dict[str, Any]] = []
        in_time = sorted(rows, key=lambda r: r["time"])
        for row in [*in_time, {"time": None, "actor": "", "event": ""}]:
            killed = str(row["event"]).startswith("killed")
            if run and (row["time"] != run[0]["time"] or not killed):
                ordered += sorted(run, key=lambda r: _worker_number(r["actor"]))
                run = []
            if killed:
                run.append(row)
            elif row["time"] is not None:
                ordered.append(row)
        return pd.DataFrame(ordered)


def _worker_number(actor: str) -> int:
    number = actor.rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def _jobs_frame(jobs: Sequence[Job]) -> pd.DataFrame:
    """One row per job (its fields), for :func:`jobsim.plot.timeline` and friends."""
    import pandas as pd

    frame = pd.DataFrame([job.to_dict() for job in jobs])
    if frame.empty:
        return frame
    frame["status"] = frame["status"].astype(str)
    return frame


def _ids(n: int) -> str:
    return f"{n} job id" if n == 1 else f"{n} job ids"


_check_count = checks.count
_RUN_EVENTS = (TraceEvent.STARTED, TraceEvent.COMPLETED, TraceEvent.FAILED)


# -- duplicate race ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateRaceReport:
    """What :func:`duplicate_race` saw.

    Attributes:
        store: ``"racy"`` or ``"memory"``.
        workers, job_count, deliveries, seed: the run's parameters.
        run_counts: handler runs per job id (1 everywhere means exactly once).
        skipped: deliveries whose claim lost (the store said "already taken").
        jobs: one row per job: ``id``, ``runs`` and the store's fields.
        runs: one row per handler run: ``job_id``, ``worker_id``, ``started``, ``finished``,
            ``status`` (``completed`` for a job's first run, ``duplicate`` for the others):
            feed it to :func:`jobsim.plot.timeline`.
        events: every pool event in order (``time``, ``actor``, ``event``, ``problem``,
            ``job_id``); a duplicate run's start is flagged as a problem.
    """

    store: str
    workers: int
    job_count: int
    deliveries: int
    seed: int
    run_counts: dict[str, int]
    skipped: int
    jobs: pd.DataFrame = field(repr=False)
    runs: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)

    @property
    def total_runs(self) -> int:
        """Handler runs in all."""
        return sum(self.run_counts.values())

    @property
    def duplicates(self) -> int:
        """Extra runs: handler runs beyond one per job (0 means exactly once)."""
        return sum(n - 1 for n in self.run_counts.values() if n > 1)

    @property
    def jobs_run_more_than_once(self) -> int:
        """How many jobs ran more than once."""
        return sum(1 for n in self.run_counts.values() if n > 1)


def duplicate_race(
    store: Literal["racy", "memory"] = "racy",
    workers: int = 10,
    jobs: int = 20,
    deliveries: int = 2,
    seed: int = 0,
) -> DuplicateRaceReport:
    """Deliver every job ``deliveries`` times to a real pool and count how often each ran.

    The duplicate deliveries follow each other on the channel (a broker redelivering, a
    client retrying), so two idle workers often take the same job id at the same moment.
    With ``store="racy"`` both read ``pending`` before either writes ``processing`` and both
    run it; ``store="memory"`` claims atomically and the second worker skips it. Each run
    takes 0.1, 0.2 or 0.3 s of virtual time drawn with ``seed``, so which deliveries meet
    depends on the seed -- the race is intermittent -- but the same seed gives the same
    counts.
    """
    if store not in _STORES:
        raise ValueError(f"store must be one of {', '.join(_STORES)}, got {store!r}")
    _check_count("workers", workers)
    _check_count("jobs", jobs)
    _check_count("deliveries", deliveries)
    _check_count("seed", seed, 0)
    rng = random.Random(seed)

    async def run() -> DuplicateRaceReport:
        the_store = RacyStore() if store == "racy" else InMemoryJobStore()
        runs: Counter[str] = Counter()
        rec = _Recorder()
        open_runs: dict[tuple[str, str], float] = {}
        run_rows: list[dict[str, Any]] = []

        started: Counter[str] = Counter()

        def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
            if event in WORKER_EVENTS:
                return
            text, problem = f"{event} {job_id}", False
            if event is TraceEvent.STARTED and worker_id is not None:
                started[job_id] += 1
                open_runs[job_id, worker_id] = at
                if started[job_id] > 1:
                    text, problem = f"started {job_id} AGAIN: a duplicate run", True
            rec.detail(worker_id or "producer", text, at=at, job_id=job_id, problem=problem)
            if event in (TraceEvent.COMPLETED, TraceEvent.FAILED) and worker_id is not None:
                first = not any(r["job_id"] == job_id for r in run_rows)
                run_rows.append(
                    {
                        "job_id": job_id,
                        "worker_id": worker_id,
                        "started": open_runs.pop((job_id, worker_id)),
                        "finished": at,
                        "status": "completed" if first else "duplicate",
                    }
                )

        async def handler(job: Job) -> str:
            runs[job.id] += 1
            await anyio.sleep(rng.choice((0.1, 0.2, 0.3)))
            return "done"

        pool = WorkerPool(
            the_store, handler, workers=workers, capacity=jobs * deliveries, tracer=tracer
        )
        async with pool:
            for n in range(1, jobs + 1):
                job = await pool.submit(Job(id=f"job-{n:02d}"))
                for _ in range(deliveries - 1):
                    await pool.deliver(job.id)
            report = await pool.shutdown()
        stored = await the_store.list()
        import pandas as pd

        jobs_frame = _jobs_frame(stored)
        jobs_frame.insert(1, "runs", [runs[j.id] for j in stored])
        return DuplicateRaceReport(
            store=store,
            workers=workers,
            job_count=jobs,
            deliveries=deliveries,
            seed=seed,
            run_counts={j.id: runs[j.id] for j in stored},
            skipped=report.duplicates_skipped,
            jobs=jobs_frame,
            runs=pd.DataFrame(
                run_rows, columns=["job_id", "worker_id", "started", "finished", "status"]
            ),
            events=rec.frame(rec.trace),
        )

    return _run_virtual(run)


# -- shutdown orders --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShutdownDemoReport:
    """What :func:`shutdown` saw.

    Attributes:
        order: the shutdown order that was run (see :data:`SHUTDOWN_ORDERS`).
        seed: seed of the job durations.
        events: who stopped when, in order, with short labels: ``time``, ``actor``,
            ``event``, ``problem`` (feed it to :func:`jobsim.plot.shutdown_sequence`).
        trace: the same events told in full, plus every job event (accepted, started,
            completed): what ``python -m jobsim demo shutdown`` prints.
        jobs: one row per accepted job with its final status (for :func:`jobsim.plot.timeline`).
        counts: accepted jobs by final status (every status present, zeros included).
        accepted: jobs the producer accepted (stored) before it stopped.
        stuck: jobs left ``processing``: no worker will ever finish or release them.
        lost: accepted jobs that never completed: stuck, or still pending when the process
            exited (the in-memory store dies with it).
        error: the exception that crashed the service, if one did (e.g. ``ClosedResourceError``).
    """

    order: str
    seed: int
    counts: dict[str, int]
    accepted: int
    stuck: int
    lost: int
    error: str | None
    events: pd.DataFrame = field(repr=False)
    trace: pd.DataFrame = field(repr=False)
    jobs: pd.DataFrame = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing was lost and nothing crashed."""
        return self.lost == 0 and self.error is None


def shutdown(
    order: ShutdownOrder = "correct",
    *,
    workers: int = 3,
    capacity: int = 4,
    jobs: int = 20,
    interval: float = 0.25,
    stop_at: float = 1.6,
    step: float = 0.1,
    seed: int = 0,
) -> ShutdownDemoReport:
    """Run the seed's service and stop it at ``stop_at`` seconds (virtual) in ``order``.

    A producer (the seed's HTTP handler) accepts a job every ``interval`` seconds -- stores it
    as pending, then sends its id into one bounded channel of ``capacity`` -- until it is told
    to stop or has accepted ``jobs``; ``workers`` workers claim ids off the channel and run
    each job for 0.6 to 1.4 s (drawn with ``seed``). ``main`` takes ``step`` seconds between
    its shutdown steps (so that they are apart on a plot). ``"correct"`` uses the real
    :class:`~jobsim.WorkerPool` and its :meth:`~jobsim.WorkerPool.shutdown`; the wrong orders
    use a hand-written service with naive workers, because the pool cannot be stopped wrongly.
    """
    if order not in SHUTDOWN_ORDERS:
        raise ValueError(f"order must be one of {', '.join(SHUTDOWN_ORDERS)}, got {order!r}")
    _check_count("workers", workers)
    _check_count("capacity", capacity)
    _check_count("jobs", jobs)
    _check_count("seed", seed, 0)
    for name, value in (("interval", interval), ("stop_at", stop_at), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not interval > 0:
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    rng = random.Random(seed)
    durations = [round(rng.uniform(0.6, 1.4), 2) for _ in range(jobs)]

    async def run() -> ShutdownDemoReport:
        store = InMemoryJobStore()
        rec = _Recorder()
        service = _Service(store, rec, workers, capacity, durations, interval, step)
        if order == "correct":
            await service.run_correct(stop_at)
        else:
            await service.run_wrong(order, stop_at)
        counts = await store.counts()
        stored = await store.list()
        stuck = counts[JobStatus.PROCESSING]
        pending = counts[JobStatus.PENDING]
        lost = stuck + pending
        rec.event(
            "store",
            f"{lost} of {len(stored)} jobs lost",
            f"at exit: {counts[JobStatus.COMPLETED]} of {len(stored)} accepted jobs completed, "
            f"{stuck} stuck processing, {pending} pending never run: {lost} lost",
            problem=lost > 0,
        )
        return ShutdownDemoReport(
            order=order,
            seed=seed,
            counts={status.value: counts[status] for status in JobStatus},
            accepted=len(stored),
            stuck=stuck,
            lost=lost,
            error=service.error,
            events=rec.frame(rec.events),
            trace=rec.frame(rec.trace),
            jobs=_jobs_frame(stored),
        )

    return _run_virtual(run)


class _Service:
    """The seed's service in miniature: a producer, one bounded channel, workers, a store."""

    def __init__(
        self,
        store: InMemoryJobStore,
        rec: _Recorder,
        workers: int,
        capacity: int,
        durations: Sequence[float],
        interval: float,
        step: float,
    ) -> None:
        self.store = store
        self.rec = rec
        self.worker_ids = [f"worker-{i}" for i in range(1, workers + 1)]
        self.capacity = capacity
        self.durations = durations
        self.interval = interval
        self.step = step
        self.stop = anyio.Event()  # "stop accepting" for the producer
        self.error: str | None = None

    async def produce(self, accept: Callable[[Job], Awaitable[None]]) -> None:
        """Accept a job every ``interval`` until told to stop. The stop request cuts the
        wait short, never an ``accept`` half way."""
        rec = self.rec
        rec.detail("producer", "starts accepting jobs")  # (not a shutdown event)
        accepted = 0
        for n, duration in enumerate(self.durations, start=1):
            if self.stop.is_set():
                break
            job = Job(id=f"job-{n:02d}", type="work", payload={"duration": duration})
            rec.detail("producer", f"accepts {job.id} ({duration:g} s of work)")
            await accept(job)
            accepted += 1
            with anyio.move_on_after(self.interval):
                await self.stop.wait()
        rec.event("producer", "stops", f"stops accepting after {accepted} jobs")

    # -- the right order: the real pool -----------------------------------------------------

    async def run_correct(self, stop_at: float) -> None:
        """Stop intake, then :meth:`WorkerPool.shutdown`: intake closed -> in-flight submits
        delivered -> channel closed -> workers finish their jobs and the queue -> joined."""
        rec = self.rec
        last_seen: dict[str, float] = {}

        def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
            if worker_id is not None and event in _RUN_EVENTS:
                last_seen[worker_id] = at
                rec.detail(worker_id, f"{event} {job_id}", at=at)

        async def handler(job: Job) -> str:
            await anyio.sleep(job.payload["duration"])
            return "done"

        pool = WorkerPool(
            self.store, handler, workers=len(self.worker_ids), capacity=self.capacity,
            tracer=tracer,
        )  # fmt: skip
        async with pool:

            async def accept(job: Job) -> None:
                await pool.submit(job)

            async with anyio.create_task_group() as tg:
                tg.start_soon(self.produce, accept)
                await anyio.sleep(stop_at)
                rec.event("main", "stop intake", "1. stops intake: tells the producer to stop")
                self.stop.set()
            await anyio.sleep(self.step)
            begun = anyio.current_time()
            rec.event(
                "main",
                "pool.shutdown()",
                f"2. pool.shutdown(): closes the channel ({_ids(pool.queue_depth)} queued), "
                "lets the workers finish, waits for them",
            )
            report = await pool.shutdown(drain=True)
            # A pool worker leaves as soon as it finds the channel closed and empty: after
            # its last job, or at once if it was idle. Their exits, in order:
            exits = {w: max(begun, last_seen.get(w, begun)) for w in pool.worker_ids}
            for worker_id in sorted(exits, key=exits.__getitem__):
                rec.event(
                    worker_id, "stops", "stops: channel closed and empty", at=exits[worker_id]
                )
            rec.event(
                "main",
                "all joined",
                f"3. every worker joined ({report.completed} completed, {report.pending} pending)",
            )

    # -- the wrong orders: naive workers, as in a service without a pool -------------------

    async def worker(self, worker_id: str, receive: MemoryObjectReceiveStream[str]) -> None:
        """Claim ids off the channel and run them; no cleanup when cancelled (the bug)."""
        rec, store = self.rec, self.store
        current: str | None = None
        try:
            async with receive:
                async for job_id in receive:
                    if not await store.claim(job_id, worker_id, at=anyio.current_time()):
                        continue
                    current = job_id
                    rec.detail(worker_id, f"started {job_id}")
                    job = await store.get(job_id)
                    await anyio.sleep(job.payload["duration"])
                    await store.complete(job_id, "done", at=anyio.current_time())
                    rec.detail(worker_id, f"completed {job_id}")
                    current = None
        except anyio.get_cancelled_exc_class():
            if current is not None:
                rec.event(
                    worker_id,
                    f"killed mid-{current}",
                    f"killed mid-{current}: it stays processing (stuck)",
                    problem=True,
                )
            else:
                rec.event(worker_id, "killed (idle)", "killed while idle")
            raise
        rec.event(worker_id, "stops", "stops: channel closed and empty")

    async def run_wrong(self, order: str, stop_at: float) -> None:
        """Run the service and stop it in one of the wrong orders."""
        rec, step = self.rec, self.step
        send, receive = anyio.create_memory_object_stream[str](self.capacity)
        workers_done = anyio.Event()

        async def accept(job: Job) -> None:
            await self.store.add(job, at=anyio.current_time())
            try:
                await send.send(job.id)
            except anyio.ClosedResourceError:
                rec.event(
                    "producer",
                    "PANIC: ClosedResourceError",
                    f"PANIC: send on closed channel (anyio.ClosedResourceError); "
                    f"{job.id} was accepted but is never delivered",
                    problem=True,
                )
                raise  # Go's panic: it takes the whole process down
            except anyio.BrokenResourceError:
                rec.event(
                    "producer",
                    "error: BrokenResourceError",
                    f"error: no worker left to receive (anyio.BrokenResourceError); "
                    f"{job.id} was accepted but is never delivered",
                    problem=True,
                )
                self.stop.set()

        async def run_workers(*, task_status: anyio.abc.TaskStatus[anyio.CancelScope]) -> None:
            async with receive, anyio.create_task_group() as tg:
                for worker_id in self.worker_ids:
                    tg.start_soon(self.worker, worker_id, receive.clone())
                task_status.started(tg.cancel_scope)
            workers_done.set()

        def queued() -> str:
            return _ids(send.statistics().current_buffer_used)

        try:
            async with anyio.create_task_group() as process:
                workers_scope = await process.start(run_workers)
                process.start_soon(self.produce, accept)
                await anyio.sleep(stop_at)
                if order == "close-channel-first":
                    rec.event(
                        "main",
                        "close channel",
                        "1. closes the channel (wrong: the producer is still sending)",
                    )
                    send.close()
                    await anyio.sleep(step)
                    rec.event("main", "wait for workers", "2. waits for the workers")
                    await workers_done.wait()
                    await anyio.sleep(step)
                    rec.event("main", "stop intake", "3. stops intake")
                    self.stop.set()
                elif order == "cancel-workers-first":
                    rec.event(
                        "main",
                        "cancel workers",
                        "1. cancels the workers (wrong: they are running jobs)",
                    )
                    workers_scope.cancel()
                    await workers_done.wait()
                    await anyio.sleep(step)
                    rec.event("main", "stop intake", "2. stops intake")
                    self.stop.set()
                    await anyio.sleep(step)
                    rec.event("main", "close channel", f"3. closes the channel ({queued()} unread)")
                    send.close()
                else:  # no-wait
                    rec.event("main", "stop intake", "1. stops intake")
                    self.stop.set()
                    await anyio.sleep(step)
                    rec.event("main", "close channel", f"2. closes the channel ({queued()})")
                    send.close()
                    await anyio.sleep(step)
                    rec.event(
                        "main",
                        "exit (no wait)",
                        "3. returns without waiting for the workers: the process exits",
                    )
                    process.cancel_scope.cancel()  # the process ends; its tasks die with it
        except* anyio.ClosedResourceError:
            self.error = "ClosedResourceError: send on a closed channel"
            rec.event(
                "main", "crashed", "the service crashed: send on closed channel", problem=True
            )
        finally:
            send.close()


# -- closure capture --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosureCaptureReport:
    """What :func:`closure_capture` saw.

    Attributes:
        fixed: whether the fixed twin ran.
        how: the fix used (``"argument"``, ``"default"``, ``"partial"``), or ``"closure"``.
        reported: ``{task name: the worker id the task reported}``, in start order; the task
            named ``worker-3`` should report 3.
    """

    fixed: bool
    how: str
    reported: dict[str, int]

    @property
    def ids(self) -> list[int]:
        """The ids the workers reported, in start order."""
        return list(self.reported.values())

    @property
    def distinct(self) -> int:
        """How many different ids were reported (the number of workers when correct)."""
        return len(set(self.reported.values()))

    @property
    def wrong(self) -> int:
        """Workers that reported an id other than their own."""
        return sum(1 for name, id_ in self.reported.items() if name != f"worker-{id_}")


def closure_capture(
    fixed: bool = False,
    *,
    workers: int = 5,
    how: Literal["argument", "default", "partial"] = "argument",
) -> ClosureCaptureReport:
    """Start ``workers`` tasks in a loop, each meant to report its own worker id.

    The bug (the seed's "closure variable capture"): a function defined in a loop body looks
    the loop variable up when it *runs*, not when it is defined. The tasks start running
    after the loop has finished, so they all see its last value. The fixes bind the value
    when the task is created: pass it as an argument (``how="argument"``, the clearest), as
    a default argument (``"default"``) or with :func:`functools.partial` (``"partial"``).
    ruff's rule B023 flags the bug.
    """
    _check_count("workers", workers)
    if how not in _CLOSURE_FIXES:
        raise ValueError(f"how must be one of {', '.join(_CLOSURE_FIXES)}, got {how!r}")

    async def run() -> ClosureCaptureReport:
        reported: dict[str, int] = {}

        def report(worker_id: int) -> None:
            reported[str(anyio.get_current_task().name)] = worker_id

        async with anyio.create_task_group() as tg:
            for worker_id in range(1, workers + 1):
                name = f"worker-{worker_id}"
                if not fixed:

                    async def work() -> None:
                        await anyio.lowlevel.checkpoint()  # some set-up, then log our id
                        report(worker_id)  # noqa: B023 -- the bug on show: read at run time

                    tg.start_soon(work, name=name)
                elif how == "argument":

                    async def work_on(worker_id: int) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)  # our own parameter: bound when the task started

                    tg.start_soon(work_on, worker_id, name=name)
                elif how == "default":

                    async def work_default(worker_id: int = worker_id) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)  # the default was evaluated at definition time

                    tg.start_soon(work_default, name=name)
                else:

                    async def work_partial(worker_id: int) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)

                    tg.start_soon(functools.partial(work_partial, worker_id), name=name)
        order = [f"worker-{i}" for i in range(1, workers + 1)]
        return ClosureCaptureReport(
            fixed=fixed,
            how=how if fixed else "closure",
            reported={name: reported[name] for name in order},
        )

    return _run_virtual(run)


# -- the narrating CLI ------------------------------------------------------------------------

_DEMOS = ("duplicate-race", "shutdown", "closure-capture")


def _print_log(trace: pd.DataFrame, out: Any) -> None:
    for row in trace.itertuples(index=False):
        mark = "!!" if row.problem else "  "
        print(f"[t={row.time:6.2f} s] {mark} {row.actor:<9} {row.event}", file=out)


def _narrate_duplicate_race(args: argparse.Namespace, out: Any) -> None:
    store: Literal["racy", "memory"] = "memory" if args.fixed else "racy"
    described = (
        "InMemoryJobStore (atomic claim)"
        if args.fixed
        else "RacyStore (check, then a checkpoint, then set)"
    )
    print(
        f"Duplicate race: {args.jobs} jobs, each delivered {args.deliveries} times in a row, "
        f"{args.workers} workers, {described}; seed {args.seed}.\n"
        "Watch for two workers starting the same job.\n",
        file=out,
    )
    report = duplicate_race(
        store, workers=args.workers, jobs=args.jobs, deliveries=args.deliveries, seed=args.seed
    )
    events = report.events
    _print_log(events[events["event"].str.match(r"(started|skipped) ")], out)
    print(
        f"\n{report.total_runs} handler runs for {report.job_count} jobs: "
        f"{report.duplicates} duplicate run(s), {report.jobs_run_more_than_once} job(s) ran "
        f"more than once, {report.skipped} delivery(ies) skipped by the claim.",
        file=out,
    )
    if report.duplicates:
        print(
            "Two workers both read 'pending' before either wrote 'processing'. The fix is an "
            "atomic claim: run with --fixed.",
            file=out,
        )
    else:
        print("Every job ran exactly once: the atomic claim turned the duplicates away.", file=out)


def _narrate_shutdown(args: argparse.Namespace, out: Any) -> None:
    order = args.order or ("correct" if args.fixed else "close-channel-first")
    print(
        f"Shutdown order {order!r}: {SHUTDOWN_ORDERS[order]}.\n"
        "A producer accepts a job every 0.25 s into a channel of 4 slots; 3 workers run "
        "jobs of 0.6-1.4 s; main stops the service at t=1.6 s. Times are virtual seconds; "
        "!! marks a problem.\n",
        file=out,
    )
    report = shutdown(order, seed=args.seed)  # type: ignore[arg-type]
    _print_log(report.trace, out)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    print(f"\nAccepted {report.accepted} jobs; at exit: {counts}. Lost: {report.lost}.", file=out)
    if report.error:
        print(f"The service crashed: {report.error}.", file=out)
    if not report.ok:
        print("Run with --fixed to see the correct order.", file=out)


_CLOSURE_CODE = {
    False: """\
    for worker_id in range(1, 6):
        async def work():
            await anyio.lowlevel.checkpoint()
            report(worker_id)            # looked up now, when the task runs
        tg.start_soon(work)""",
    True: """\
    for worker_id in range(1, 6):
        async def work(worker_id):
            await anyio.lowlevel.checkpoint()
            report(worker_id)            # the task's own argument
        tg.start_soon(work, worker_id)   # bound here, when the task is created""",
}


def _narrate_closure_capture(args: argparse.Namespace, out: Any) -> None:
    print(
        "Closure capture: a loop starts 5 worker tasks; each should report its own id.\n"
        + (
            "Fixed: the id is passed to each task as an argument.\n"
            if args.fixed
            else "Bug: each task's function reads the loop variable when it runs (Go before "
            "1.22 had the same bug with 'go func() { ... i ... }()').\n"
        )
        + "\n"
        + _CLOSURE_CODE[bool(args.fixed)]
        + "\n",
        file=out,
    )
    report = closure_capture(args.fixed)
    for name, id_ in report.reported.items():
        mark = "  " if name == f"worker-{id_}" else "!!"
        print(f"{mark} task {name} reports worker id {id_}", file=out)
    print(
        f"\n{report.distinct} distinct id(s) for {len(report.reported)} workers; "
        f"{report.wrong} wrong.",
        file=out,
    )
    if report.wrong:
        print(
            "The tasks ran after the loop had finished and all read its last value. "
            "Run with --fixed.",
            file=out,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobsim demo NAME [--fixed]``: narrate a demo; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m jobsim demo",
        description="Narrate a teaching demo: the bug, or with --fixed its fix. Times are "
        "virtual seconds, so every run prints the same story.",
    )
    parser.add_argument("name", choices=_DEMOS, help="which demo to run")
    parser.add_argument("--fixed", action="store_true", help="run the fixed twin")
    parser.add_argument(
        "--order",
        choices=list(SHUTDOWN_ORDERS),
        help="shutdown only: the order to stop in (default: close-channel-first, "
        "or correct with --fixed)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the job durations")
    parser.add_argument("--workers", type=int, default=10, help="duplicate-race: workers")
    parser.add_argument("--jobs", type=int, default=20, help="duplicate-race: jobs")
    parser.add_argument(
        "--deliveries", type=int, default=2, help="duplicate-race: deliveries of each job"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.order is not None and args.name != "shutdown":
        parser.error("--order applies to the shutdown demo only")
    if args.order is not None and args.fixed and args.order != "correct":
        parser.error(f"--fixed runs the correct order; it contradicts --order {args.order}")
    narrate = {
        "duplicate-race": _narrate_duplicate_race,
        "shutdown": _narrate_shutdown,
        "closure-capture": _narrate_closure_capture,
    }[args.name]
    try:
        narrate(args, sys.stdout)
    except ValueError as exc:
        print(f"jobsim demo: {exc}", file=sys.stderr)
        return 2
    return 0
