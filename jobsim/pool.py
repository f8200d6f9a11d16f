"""WorkerPool: N workers fanning out over one bounded channel, claiming from a store.

The design, kept from the Go seed:

* **Fan-out.** One bounded anyio memory object stream carries job *ids*; every worker reads
  the same receive end. No per-worker queues, so the next job goes to the first free worker.
* **The store decides.** The channel only notifies. A worker runs a job only after
  ``store.claim`` moved it ``pending -> processing`` for that worker, so a job delivered twice
  (a retry, a duplicate message, a second producer) still runs once. No locks in this layer.
* **Shutdown in reverse dependency order.** Stop intake -> wait for in-flight submits -> close
  the channel -> workers finish -> join every worker task. Closing the channel first makes a
  producer hit ``anyio.ClosedResourceError`` (Go: "send on closed channel"); not waiting for
  the workers leaves jobs ``processing`` forever. :meth:`WorkerPool.shutdown` cannot do either.

Speed: every ``await stream.send()``/``receive()`` is a scheduling checkpoint, which made the
obvious version 14x slower than a bare ``asyncio.Queue`` pool. The pool therefore tries
``send_nowait``/``receive_nowait`` first and only awaits when it must wait anyway; it yields
on its own every ``_YIELD_EVERY`` back-to-back jobs so one busy worker cannot starve the rest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import anyio.lowlevel
import sniffio
from anyio import EndOfStream, WouldBlock
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsim.domain import Job, JobStatus, PoolClosed
from jobsim.stores.base import JobStore

__all__ = ["Handler", "ShutdownReport", "Tracer", "WorkerPool", "loop_clock"]

logger = logging.getLogger("jobsim.pool")
worker_logger = logging.getLogger("jobsim.worker")

#: What a pool runs: ``await handler(job)``; the return value becomes ``job.result``.
Handler = Callable[[Job], Awaitable[Any]]

#: Optional observer: ``tracer(event, time, job_id, worker_id)`` with event one of
#: ``"queued"`` (delivered to the channel), ``"taken"`` (a worker took it off the channel),
#: ``"skipped"`` (the claim lost: a duplicate delivery), ``"started"``, ``"completed"``,
#: ``"failed"``, ``"released"`` (interrupted, back to pending).
Tracer = Callable[[str, float, str, "str | None"], None]

State = Literal["new", "running", "closing", "closed"]

_YIELD_EVERY = 64


def loop_clock() -> Callable[[], float]:
    """The running event loop's clock (virtual under a virtual-time loop or trio's MockClock)."""
    library = sniffio.current_async_library()
    if library == "trio":
        import trio

        return trio.current_time
    import asyncio

    return asyncio.get_running_loop().time


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What :meth:`WorkerPool.shutdown` left behind.

    Attributes:
        completed: jobs this pool completed over its life.
        failed: jobs this pool failed (handler raised) over its life.
        pending: jobs pending in the store when the pool stopped (queued, never run, or put
            back after an interruption); nothing is lost, a later pool can run them.
        interrupted: running jobs cancelled at the deadline and put back to pending.
        duplicates_skipped: deliveries whose claim lost (the job was already taken).
        drained: whether the channel was drained (``drain=True`` and no timeout hit).
        timed_out: whether the timeout cut the drain short.
        elapsed: seconds the shutdown took on the pool's clock.
    """

    completed: int
    failed: int
    pending: int
    interrupted: int
    duplicates_skipped: int
    drained: bool
    timed_out: bool
    elapsed: float

    @property
    def lost(self) -> int:
        """Always 0: no job is left ``processing`` by a shutdown (kept for readable asserts)."""
        return 0


class WorkerPool:
    """A pool of ``workers`` tasks running ``handler`` on jobs from ``store``.

    Use it as an async context manager; leaving the block shuts down gracefully (drain)::

        async with WorkerPool(InMemoryJobStore(), handler, workers=10, capacity=100) as pool:
            await pool.submit(Job(type="email", payload={"to": "a@example.com"}))
            report = await pool.shutdown()   # optional: the block's exit does it too

    Args:
        store: the source of truth (see :class:`~jobsim.stores.JobStore`).
        handler: ``async def handler(job) -> result``; an exception fails the job (the pool
            keeps running), cancellation puts it back to pending.
        workers: number of worker tasks (>= 1).
        capacity: slots in the bounded channel (>= 1); ``submit`` waits when it is full.
        name: prefix of worker ids (``"worker-1"``, ...); make it unique per process when
            several processes share a store.
        clock: returns the current time for job timestamps; default: the event loop's clock.
        tracer: optional observer of every job event (see :data:`Tracer`), for the lab.
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
    ) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
        if not callable(handler):
            raise TypeError(f"handler must be an async callable taking a Job, got {handler!r}")
        self.store = store
        self.handler = handler
        self.workers = workers
        self.capacity = capacity
        self.worker_ids = [f"{name}-{i}" for i in range(1, workers + 1)]
        self._clock = clock
        self._tracer = tracer
        self._state: State = "new"
        self._stop_taking = False
        self._task_group: TaskGroup | None = None
        self._workers_scope: anyio.CancelScope | None = None
        self._send: MemoryObjectSendStream[str]
        self._receive: MemoryObjectReceiveStream[str]
        self._in_flight_submits = 0
        self._submits_idle: anyio.Event | None = None
        self._blocked_sends: set[anyio.CancelScope] = set()
        self._live_workers = 0
        self._workers_done: anyio.Event | None = None
        self._running: dict[str, str] = {}  # job id -> worker id, while its handler runs
        self._report: ShutdownReport | None = None
        self._shutdown_done: anyio.Event | None = None
        self.processed = dict.fromkeys(self.worker_ids, 0)
        self.completed = 0
        self.failed = 0
        self.interrupted = 0
        self.duplicates_skipped = 0

    def __repr__(self) -> str:
        return (
            f"<WorkerPool {self._state} workers={self.workers} capacity={self.capacity} "
            f"queued={self.queue_depth}>"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a WorkerPool can be entered only once; create a new one")
        if self._clock is None:
            self._clock = loop_clock()
        self._send, self._receive = anyio.create_memory_object_stream[str](self.capacity)
        self._workers_done = anyio.Event()
        self._submits_idle = anyio.Event()
        self._shutdown_done = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        self._live_workers = self.workers
        try:
            await tg.start(self._supervise, name="jobsim pool")
        except BaseException as exc:
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._state = "running"
        logger.debug("pool started: %d workers, capacity %d", self.workers, self.capacity)
        return self

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
        elif self._state != "closed":
            # The block raised (or was cancelled): stop at once; running jobs go back to pending.
            self._stop_intake()
            self._stop_taking = True
            self._cancel_workers()
        return await tg.__aexit__(exc_type, exc, tb)

    async def _supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run the workers in their own task group, so that a deadline can cancel them
        without cancelling the code inside the user's ``async with`` block."""
        async with anyio.create_task_group() as workers:
            self._workers_scope = workers.cancel_scope
            for index, worker_id in enumerate(self.worker_ids):
                workers.start_soon(self._worker, index, worker_id, name=f"jobsim {worker_id}")
            task_status.started()

    def _cancel_workers(self) -> None:
        if self._workers_scope is not None:
            self._workers_scope.cancel()

    @property
    def state(self) -> State:
        """``new``, ``running``, ``closing`` (shutdown in progress) or ``closed``."""
        return self._state

    @property
    def queue_depth(self) -> int:
        """Job ids waiting in the channel (not yet taken by a worker)."""
        if self._state == "new":
            return 0
        return self._send.statistics().current_buffer_used

    @property
    def running(self) -> dict[str, str]:
        """Jobs whose handler is running now: ``{job_id: worker_id}`` (a copy)."""
        return dict(self._running)

    @property
    def busy(self) -> int:
        """Workers currently running a handler."""
        return len(self._running)

    # -- intake ------------------------------------------------------------------------------

    async def submit(self, job: Job) -> Job:
        """Store ``job`` as pending and deliver it to the workers; returns the job.

        Waits while the channel is full (backpressure). Raises :class:`PoolClosed` once
        shutdown has begun (before the job is stored, so nothing is half-accepted).
        """
        self._enter_intake("submit")
        try:
            await self.store.add(job, at=self._now())
            await self._deliver(job.id)
        finally:
            self._leave_intake()
        return job

    async def deliver(self, job_id: str) -> None:
        """Deliver an already-stored job (again). Harmless for a job that is not pending:
        the claim fails and the worker skips it. Unknown id: ``JobNotFound``."""
        self._enter_intake("deliver")
        try:
            await self.store.get(job_id)
            await self._deliver(job_id)
        finally:
            self._leave_intake()

    def _enter_intake(self, what: str) -> None:
        if self._state != "running":
            if self._state == "new":
                raise PoolClosed(
                    f"cannot {what}: the pool has not started; use 'async with WorkerPool(...)'"
                )
            raise PoolClosed(f"cannot {what}: the pool is {self._state} (shutdown was called)")
        self._in_flight_submits += 1

    def _leave_intake(self) -> None:
        self._in_flight_submits -= 1
        if self._in_flight_submits == 0 and self._state != "running":
            assert self._submits_idle is not None
            self._submits_idle.set()

    async def _deliver(self, job_id: str) -> None:
        tracer = self._tracer
        try:
            self._send.send_nowait(job_id)  # fast path: no checkpoint when there is room
        except WouldBlock:
            if self._stop_taking:  # shutting down without drain: it stays pending in the store
                return
            with anyio.CancelScope() as scope:  # drain=False shutdown may cancel this wait
                self._blocked_sends.add(scope)
                try:
                    await self._send.send(job_id)
                finally:
                    self._blocked_sends.discard(scope)
            if scope.cancelled_caught:
                logger.debug("job %s stays pending: shutdown stopped its delivery", job_id)
                return
        if tracer is not None:
            tracer("queued", self._now(), job_id, None)

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    # -- workers -----------------------------------------------------------------------------

    async def _worker(self, index: int, worker_id: str) -> None:
        receive = self._receive
        log = worker_logger
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug("%s: started", worker_id)
        back_to_back = 0
        try:
            while not self._stop_taking:
                try:
                    job_id = receive.receive_nowait()
                    back_to_back += 1
                    if back_to_back >= _YIELD_EVERY:
                        back_to_back = 0
                        await anyio.lowlevel.checkpoint()  # let the others run (fairness)
                        if self._stop_taking:
                            # Took it but will not run it: it stays pending in the store.
                            break
                except WouldBlock:
                    back_to_back = 0
                    try:
                        job_id = await receive.receive()
                    except EndOfStream:
                        break
                except EndOfStream:
                    break
                await self._run(worker_id, job_id, debug)
                self.processed[worker_id] += 1
        finally:
            if debug:
                log.debug("%s: stopped after %d jobs", worker_id, self.processed[worker_id])
            self._live_workers -= 1
            if self._live_workers == 0:
                assert self._workers_done is not None
                self._workers_done.set()

    async def _run(self, worker_id: str, job_id: str, debug: bool) -> None:
        store = self.store
        clock = self._clock
        assert clock is not None
        tracer = self._tracer
        now = clock()
        if tracer is not None:
            tracer("taken", now, job_id, worker_id)
        if not await store.claim(job_id, worker_id, at=now):
            self.duplicates_skipped += 1
            if tracer is not None:
                tracer("skipped", now, job_id, worker_id)
            if debug:
                worker_logger.debug("%s: skipped %s (already claimed)", worker_id, job_id)
            return
        if tracer is not None:
            tracer("started", now, job_id, worker_id)
        if debug:
            worker_logger.debug("%s: claimed %s", worker_id, job_id)
        job = await store.get(job_id)
        running = self._running
        running[job_id] = worker_id
        try:
            result = await self.handler(job)
        except Exception as exc:  # the handler failed: record it, keep the worker alive
            del running[job_id]
            error = f"{type(exc).__name__}: {exc}"
            await store.fail(job_id, error, at=clock())
            self.failed += 1
            if tracer is not None:
                tracer("failed", clock(), job_id, worker_id)
            worker_logger.warning("%s: job %s failed: %s", worker_id, job_id, error)
            return
        except BaseException:  # cancelled (shutdown deadline, or the block raised)
            del running[job_id]
            with anyio.CancelScope(shield=True):  # back to pending, never left processing
                await store.release(job_id, "interrupted: the pool stopped while it ran")
            self.interrupted += 1
            if tracer is not None:
                tracer("released", clock(), job_id, worker_id)
            worker_logger.info("%s: job %s interrupted, back to pending", worker_id, job_id)
            raise
        del running[job_id]
        await store.complete(job_id, result, at=clock())
        self.completed += 1
        if tracer is not None:
            tracer("completed", clock(), job_id, worker_id)
        if debug:
            worker_logger.debug("%s: completed %s", worker_id, job_id)

    # -- shutdown ----------------------------------------------------------------------------

    def _stop_intake(self) -> None:
        if self._state == "running":
            self._state = "closing"
            if self._in_flight_submits == 0:
                assert self._submits_idle is not None
                self._submits_idle.set()

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> ShutdownReport:
        """Stop the pool in the seed's order and report what is left.

        1. Intake closes: ``submit``/``deliver`` raise :class:`PoolClosed` from now on.
        2. Submits already in progress finish delivering (with ``drain=False`` their wait is
           cut short; their jobs stay pending in the store).
        3. The channel closes.
        4. Workers finish: with ``drain=True`` they run every queued job first; with
           ``drain=False`` each stops after its current job and queued jobs stay pending.
           With ``timeout`` (seconds), jobs still running at the deadline are cancelled and
           put back to pending: never left ``processing``, never lost.
        5. Every worker task is joined.

        Calling it again (or concurrently) waits for the first call and returns its report.
        """
        if timeout is not None and not (timeout >= 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be None or a finite number >= 0, got {timeout!r}")
        if self._state == "new":
            raise RuntimeError("shutdown() called on a pool that never started")
        if self._state != "running":
            assert self._shutdown_done is not None
            await self._shutdown_done.wait()
            assert self._report is not None
            return self._report
        start = self._now()
        wall_start = time.perf_counter()
        timed_out = False
        assert self._submits_idle is not None and self._workers_done is not None
        self._stop_intake()  # 1. intake closed
        logger.info("shutdown: intake closed (drain=%s, timeout=%s)", drain, timeout)
        with anyio.move_on_after(timeout) as deadline:
            if not drain:
                self._stop_taking = True
                for scope in list(self._blocked_sends):
                    scope.cancel()
            await self._submits_idle.wait()  # 2. in-flight submits delivered
            self._send.close()  # 3. channel closed: nobody can be sending any more
            logger.info("shutdown: channel closed with %d job(s) queued", self.queue_depth)
            await self._workers_done.wait()  # 4. workers finished
        if deadline.cancelled_caught:
            timed_out = True
            self._stop_taking = True
            logger.warning(
                "shutdown: deadline of %ss passed; cancelling %d running job(s)",
                timeout,
                len(self._running),
            )
            for scope in list(self._blocked_sends):
                scope.cancel()
            self._cancel_workers()
            await self._submits_idle.wait()
            self._send.close()
            await self._workers_done.wait()
        self._receive.close()
        counts = await self.store.counts()
        self._report = ShutdownReport(
            completed=self.completed,
            failed=self.failed,
            pending=counts[JobStatus.PENDING],
            interrupted=self.interrupted,
            duplicates_skipped=self.duplicates_skipped,
            drained=drain and not timed_out,
            timed_out=timed_out,
            elapsed=self._now() - start,
        )
        self._state = "closed"  # 5. joined: every worker has returned (the task group exits
        # when the ``async with`` block does; the tasks have nothing left to run).
        assert self._shutdown_done is not None
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
