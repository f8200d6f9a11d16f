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
  the workers leaves jobs ``processing`` forever. :meth:`WorkerPool.shutdown` can do neither.

With ``lease=`` the pool runs in *pull mode* for stores shared between processes
(:class:`~jobsim.stores.LeasingJobStore`): there is no channel, each worker claims the oldest
pending job with ``store.claim_next``, a renewer keeps the leases of running jobs alive and a
sweeper returns jobs of crashed processes (expired leases) to pending.

Speed: every ``await stream.send()``/``receive()`` is a scheduling checkpoint, and an anyio
``CancelScope`` costs ~10 µs on asyncio, which made the obvious version 14x slower than a bare
``asyncio.Queue`` pool. So the pool tries ``send_nowait``/``receive_nowait`` first and awaits
only when it must wait anyway, yields on its own every ``_YIELD_EVERY`` back-to-back jobs so a
busy worker cannot starve the others, and opens no cancel scope per job: each worker runs in
one long-lived scope that :meth:`WorkerPool.cancel` cancels to stop a running handler, after
which the worker opens a fresh one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, NoReturn, Self

import anyio
import anyio.abc
import anyio.lowlevel
import sniffio
from anyio import EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsim.domain import InvalidTransition, Job, JobStatus, PoolClosed
from jobsim.retry import RetryPolicy
from jobsim.stores.base import JobStore, LeasingJobStore

__all__ = ["Handler", "ShutdownReport", "Tracer", "WorkerPool", "loop_clock"]

logger = logging.getLogger("jobsim.pool")
worker_logger = logging.getLogger("jobsim.worker")

#: What a pool runs: ``await handler(job)``; the return value becomes ``job.result``.
Handler = Callable[[Job], Awaitable[Any]]

#: Optional observer: ``tracer(event, time, job_id, worker_id)`` with event one of
#: ``"queued"`` (delivered to the channel), ``"taken"`` (a worker took it off the channel),
#: ``"skipped"`` (the claim lost: a duplicate delivery), ``"started"``, ``"completed"``,
#: ``"failed"``, ``"retrying"`` (failed, another attempt will follow), ``"cancelled"``,
#: ``"released"`` (interrupted by shutdown, back to pending).
Tracer = Callable[[str, float, str, "str | None"], None]

State = Literal["new", "running", "closing", "closed"]

_YIELD_EVERY = 64
_PENDING = JobStatus.PENDING


def loop_clock() -> Callable[[], float]:
    """The running event loop's clock (virtual under a virtual-time loop or trio's MockClock)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.current_time
    import asyncio

    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic  # what BaseEventLoop.time returns, minus a Python-level call
    return loop.time


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What :meth:`WorkerPool.shutdown` left behind.

    Attributes:
        completed: jobs this pool completed over its life.
        failed: jobs this pool failed for good (last attempt raised or timed out).
        pending: jobs pending in the store when the pool stopped (queued and never run, waiting
            for a retry, or put back after an interruption). Nothing is lost: a later pool can
            run them.
        interrupted: running jobs cancelled by the shutdown deadline and put back to pending.
        duplicates_skipped: deliveries whose claim lost (the job was already taken).
        retried: failed attempts that were followed by another attempt.
        cancelled: jobs cancelled through :meth:`WorkerPool.cancel`.
        drained: whether every queued job ran (``drain=True`` and no deadline hit).
        timed_out: whether the timeout cut the drain short.
        elapsed: seconds the shutdown took on the pool's clock.
    """

    completed: int
    failed: int
    pending: int
    interrupted: int
    duplicates_skipped: int
    retried: int
    cancelled: int
    drained: bool
    timed_out: bool
    elapsed: float


class _Outcome:
    """What happened to a job whose cancellation was requested while it ran."""

    __slots__ = ("cancelled", "done")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.cancelled = False


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
        workers: number of worker tasks (>= 1).
        capacity: slots in the bounded channel (>= 1); ``submit`` waits when it is full.
        name: prefix of worker ids (``"worker-1"``, ...); make it unique per process when
            several processes share a store.
        clock: returns the current time for job timestamps; default: the event loop's clock.
        tracer: optional observer of every job event (see :data:`Tracer`), for the lab.
        retry: spacing of retries for jobs with ``max_attempts > 1`` (default
            ``RetryPolicy()``: 1 s, 2 s, 4 s, ... with full jitter).
        job_timeout: default seconds an attempt may run (a job's own ``timeout`` wins).
        lease: pull mode for shared stores: claim with ``store.claim_next`` for ``lease``
            seconds, renewed while the job runs (see the module docstring).
        poll_interval: in pull mode, the longest an idle worker waits before looking again.
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
    ) -> None:
        _check_count("workers", workers)
        _check_count("capacity", capacity)
        if not callable(handler):
            raise TypeError(f"handler must be an async callable taking a Job, got {handler!r}")
        _check_seconds("job_timeout", job_timeout)
        _check_seconds("lease", lease)
        _check_seconds("poll_interval", poll_interval)
        if lease is not None and not isinstance(store, LeasingJobStore):
            raise TypeError(
                f"lease= (pull mode) needs a store shared between processes with claim_next, "
                f"renew, requeue_expired and wait_for_jobs; {type(store).__name__} has not"
            )
        self.store = store
        self.handler = handler
        self.workers = workers
        self.capacity = capacity
        self.worker_ids = [f"{name}-{i}" for i in range(1, workers + 1)]
        self.retry = retry if retry is not None else RetryPolicy()
        self.job_timeout = job_timeout
        self.lease = lease
        self.poll_interval = poll_interval
        self._clock = clock
        self._tracer = tracer
        self._debug = False  # worker debug logging; read from the logger when the pool starts
        self._add_nowait: Callable[..., Job] | None = None
        self._claim_nowait: Callable[..., Job | None] | None = None
        self._complete_nowait: Callable[..., None] | None = None
        self._state: State = "new"
        self._stop_taking = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._workers_scope: anyio.CancelScope | None = None
        self._retries_scope: anyio.CancelScope | None = None
        self._retry_tg: anyio.abc.TaskGroup | None = None
        self._send: MemoryObjectSendStream[str]
        self._receive: MemoryObjectReceiveStream[str]
        self._in_flight_submits = 0
        self._intake_progress: anyio.Event | None = None
        self._live_workers = 0
        self._workers_done: anyio.Event | None = None
        self._running: dict[str, str] = {}  # job id -> worker id, while its handler runs
        self._worker_scopes: dict[str, anyio.CancelScope] = {}
        self._idle: set[str] = set()  # pull mode: workers waiting for work
        self._cancelling: dict[str, _Outcome] = {}
        self._report: ShutdownReport | None = None
        self._shutdown_done: anyio.Event | None = None
        self.processed = dict.fromkeys(self.worker_ids, 0)
        self.completed = 0
        self.failed = 0
        self.interrupted = 0
        self.duplicates_skipped = 0
        self.retried = 0
        self.cancelled = 0

    def __repr__(self) -> str:
        mode = f" lease={self.lease}" if self.lease is not None else ""
        return (
            f"<WorkerPool {self._state} workers={self.workers} capacity={self.capacity}{mode} "
            f"queued={self.queue_depth} running={len(self._running)}>"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a WorkerPool can be entered only once; create a new one")
        if self._clock is None:
            self._clock = loop_clock()
        self._debug = worker_logger.isEnabledFor(logging.DEBUG)
        # Non-blocking fast paths of stores that never wait (see NonBlockingJobStore).
        self._add_nowait = getattr(self.store, "add_nowait", None)
        self._claim_nowait = getattr(self.store, "claim_nowait", None)
        self._complete_nowait = getattr(self.store, "complete_nowait", None)
        self._send, self._receive = anyio.create_memory_object_stream[str](self.capacity)
        self._workers_done = anyio.Event()
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
            for scope in (self._retries_scope, self._workers_scope):
                if scope is not None:
                    scope.cancel()
            self._state = "closed"
        # Join the workers. The block's own exception (if any) is not handed to the task
        # group, so it propagates as it is instead of wrapped in an ExceptionGroup.
        await tg.__aexit__(None, None, None)
        return None

    async def _supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run workers (and retry timers, lease keepers) in task groups of their own, so a
        deadline can cancel them without cancelling the code in the user's ``async with``."""
        async with anyio.create_task_group() as workers:
            self._workers_scope = workers.cancel_scope
            worker = self._pull_worker if self.lease is not None else self._push_worker
            for worker_id in self.worker_ids:
                workers.start_soon(self._worker, worker, worker_id, name=f"jobsim {worker_id}")
            async with anyio.create_task_group() as retries:
                self._retries_scope = retries.cancel_scope
                self._retry_tg = retries
                if self.lease is not None:
                    retries.start_soon(self._keep_leases, name="jobsim lease keeper")
                task_status.started()
                await anyio.sleep_forever()  # until shutdown cancels the retry timers

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
        if self._state != "running":
            self._refuse("submit")
        self._in_flight_submits += 1
        try:
            add_nowait = self._add_nowait
            if add_nowait is not None:
                add_nowait(job, at=self._clock())  # type: ignore[misc]
            else:
                await self.store.add(job, at=self._now())
            if self.lease is None:
                job_id = job.id
                try:
                    self._send.send_nowait(job_id)  # fast path: no checkpoint if there is room
                    if self._tracer is not None:
                        self._tracer("queued", self._now(), job_id, None)
                except WouldBlock:
                    await self._deliver_slow(job_id)
        finally:
            self._leave_intake()
        return job

    async def deliver(self, job_id: str) -> None:
        """Deliver an already-stored job (again). Harmless for a job that is not pending:
        the claim fails and the worker skips it. Unknown id: ``JobNotFound``.

        In pull mode the store is the channel, so this only checks the id."""
        if self._state != "running":
            self._refuse("deliver")
        self._in_flight_submits += 1
        try:
            await self.store.get(job_id)
            if self.lease is None:
                try:
                    self._send.send_nowait(job_id)
                    if self._tracer is not None:
                        self._tracer("queued", self._now(), job_id, None)
                except WouldBlock:
                    await self._deliver_slow(job_id)
        finally:
            self._leave_intake()

    def _refuse(self, what: str) -> NoReturn:
        if self._state == "new":
            raise PoolClosed(
                f"cannot {what}: the pool has not started; use 'async with WorkerPool(...)'"
            )
        raise PoolClosed(f"cannot {what}: the pool is {self._state} (shutdown was called)")

    def _leave_intake(self) -> None:
        self._in_flight_submits -= 1
        if self._state != "running" and self._intake_progress is not None:
            self._intake_progress.set()  # shutdown is waiting for in-flight submits

    async def _deliver_slow(self, job_id: str) -> None:
        """Wait for room in the channel. A shutdown without drain discards queued ids to let
        this through (the job stays pending in the store, where a later pool finds it)."""
        if self._stop_taking:
            return
        # No cancel scope here (~10 µs each): a shutdown without drain unblocks this send by
        # discarding what is queued instead (see _await_intake_idle).
        await self._send.send(job_id)
        if self._tracer is not None:
            self._tracer("queued", self._now(), job_id, None)

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    # -- workers -----------------------------------------------------------------------------

    async def _worker(
        self, loop: Callable[[str, anyio.CancelScope], Awaitable[None]], worker_id: str
    ) -> None:
        """Run ``loop`` in a cancel scope that :meth:`cancel` may cancel to stop the handler
        of the job this worker runs; then carry on in a fresh scope."""
        debug = self._debug
        if debug:
            worker_logger.debug("%s: started", worker_id)
        try:
            while not self._stop_taking:
                with anyio.CancelScope() as scope:
                    self._worker_scopes[worker_id] = scope
                    await loop(worker_id, scope)
                if not scope.cancel_called:
                    break  # the loop ended: channel closed or stop requested
        finally:
            self._worker_scopes.pop(worker_id, None)
            if debug:
                worker_logger.debug(
                    "%s: stopped after %d jobs", worker_id, self.processed[worker_id]
                )
            self._live_workers -= 1
            if self._live_workers == 0:
                assert self._workers_done is not None
                self._workers_done.set()

    async def _push_worker(self, worker_id: str, scope: anyio.CancelScope) -> None:
        """Take ids off the shared channel, claim, run. Returns at end of stream, on stop,
        or after a cancellation so :meth:`_worker` can open a fresh scope."""
        receive = self._receive
        store = self.store
        clock = self._clock
        assert clock is not None
        tracer = self._tracer
        claim_nowait = self._claim_nowait
        debug = self._debug
        back_to_back = 0
        while not self._stop_taking:
            try:
                job_id = receive.receive_nowait()
                back_to_back += 1
                if back_to_back >= _YIELD_EVERY:
                    back_to_back = 0
                    await anyio.lowlevel.checkpoint()  # let the others run (fairness)
                    if self._stop_taking:
                        return  # taken but not run: it stays pending in the store
            except WouldBlock:
                back_to_back = 0
                try:
                    job_id = await receive.receive()
                except EndOfStream:
                    return
            except EndOfStream:
                return
            now = clock()
            if tracer is not None:
                tracer("taken", now, job_id, worker_id)
            if claim_nowait is not None:
                job = claim_nowait(job_id, worker_id, at=now)
            elif await store.claim(job_id, worker_id, at=now):
                job = await store.get(job_id)
            else:
                job = None
            if job is None:
                self.duplicates_skipped += 1
                if tracer is not None:
                    tracer("skipped", now, job_id, worker_id)
                if debug:
                    worker_logger.debug("%s: skipped %s (already claimed)", worker_id, job_id)
                continue
            await self._execute(job, worker_id, now)
            if scope.cancel_called:
                return  # a cancel request hit this scope: continue in a fresh one

    async def _pull_worker(self, worker_id: str, scope: anyio.CancelScope) -> None:
        """Claim the oldest pending job from a shared store; wait for news when idle."""
        store = self.store
        assert isinstance(store, LeasingJobStore) and self.lease is not None
        while not self._stop_taking:
            now = self._now()
            job = await store.claim_next(worker_id, self.lease, at=now)
            if job is None:
                if self._stop_taking:
                    return
                self._idle.add(worker_id)
                try:
                    await store.wait_for_jobs(self.poll_interval)
                finally:
                    self._idle.discard(worker_id)
                if scope.cancel_called:
                    return
                continue
            if self._tracer is not None:
                self._tracer("taken", now, job.id, worker_id)
            await self._execute(job, worker_id, now)
            if scope.cancel_called:
                return

    async def _execute(self, job: Job, worker_id: str, started: float) -> None:
        """Run the handler on a claimed job and record the outcome in the store."""
        store = self.store
        clock = self._clock
        assert clock is not None
        tracer = self._tracer
        job_id = job.id
        if tracer is not None:
            tracer("started", started, job_id, worker_id)
        timeout = job.timeout if job.timeout is not None else self.job_timeout
        running = self._running
        running[job_id] = worker_id
        try:
            if timeout is None:
                result = await self.handler(job)
            else:
                with anyio.fail_after(timeout):
                    result = await self.handler(job)
        except Exception as exc:  # the attempt failed: record it, keep the worker alive
            running.pop(job_id, None)
            if isinstance(exc, TimeoutError) and timeout is not None:
                error = f"TimeoutError: attempt {job.attempts} timed out after {timeout:g} s"
            else:
                error = f"{type(exc).__name__}: {exc}"
            await self._attempt_failed(job, worker_id, error)
            return
        except BaseException:  # cancelled: by cancel(), or by a shutdown deadline
            running.pop(job_id, None)
            outcome = self._cancelling.pop(job_id, None)
            with anyio.CancelScope(shield=True):
                if outcome is not None:  # cancel(job_id): the job ends cancelled
                    await self._finish(store.cancel(job_id, at=clock()), job_id, worker_id)
                    self.cancelled += 1
                    outcome.cancelled = True
                    outcome.done.set()
                    event = "cancelled"
                else:  # the pool is stopping: back to pending, never left processing
                    await store.release(job_id, "interrupted: the pool stopped while it ran")
                    self.interrupted += 1
                    event = "released"
            if tracer is not None:
                tracer(event, clock(), job_id, worker_id)
            worker_logger.info("%s: job %s %s", worker_id, job_id, event)
            raise
        running.pop(job_id, None)
        complete_nowait = self._complete_nowait
        if complete_nowait is not None and job_id not in self._cancelling:
            try:  # fast path: no coroutine, no checkpoint
                complete_nowait(job_id, result, at=clock())
            except InvalidTransition as exc:
                worker_logger.warning("%s: job %s: outcome dropped: %s", worker_id, job_id, exc)
        else:
            outcome = self._cancelling.pop(job_id, None)
            with anyio.CancelScope(shield=outcome is not None):  # cancel() came too late
                await self._finish(store.complete(job_id, result, at=clock()), job_id, worker_id)
            if outcome is not None:
                outcome.done.set()
        self.completed += 1
        self.processed[worker_id] += 1
        if tracer is not None:
            tracer("completed", clock(), job_id, worker_id)
        if self._debug:
            worker_logger.debug("%s: completed %s", worker_id, job_id)

    async def _attempt_failed(self, job: Job, worker_id: str, error: str) -> None:
        store = self.store
        clock = self._clock
        assert clock is not None
        job_id = job.id
        attempts = job.attempts
        self.processed[worker_id] += 1
        if attempts < job.max_attempts and self._state != "running":
            # Shutting down: no new timers; the job keeps its remaining attempts, pending.
            self.retried += 1
            await self._finish(store.release(job_id, error), job_id, worker_id)
            return
        if attempts < job.max_attempts:
            delay = self.retry.delay(attempts)
            self.retried += 1
            if self._tracer is not None:
                self._tracer("retrying", clock(), job_id, worker_id)
            worker_logger.info(
                "%s: job %s attempt %d/%d failed (%s); retrying in %.3g s",
                worker_id,
                job_id,
                attempts,
                job.max_attempts,
                error,
                delay,
            )
            if self.lease is None:
                await self._finish(store.release(job_id, error), job_id, worker_id)
                self._start_retry_timer(job_id, delay)
            else:  # shared store: hold the claim through the delay, then hand it back
                self._start_retry_timer(job_id, delay, error)
            return
        await self._finish(store.fail(job_id, error, at=clock()), job_id, worker_id)
        self.failed += 1
        if self._tracer is not None:
            self._tracer("failed", clock(), job_id, worker_id)
        worker_logger.warning("%s: job %s failed: %s", worker_id, job_id, error)

    def _start_retry_timer(self, job_id: str, delay: float, error: str | None = None) -> None:
        """Deliver ``job_id`` again after ``delay``. The timers run in a task group that
        shutdown cancels first, so a job waiting for its retry never holds shutdown up: it
        simply stays pending in the store."""

        async def later() -> None:
            try:
                await anyio.sleep(delay)
            finally:
                if error is not None:  # pull mode: release after the delay (or at shutdown)
                    with anyio.CancelScope(shield=True):
                        await self.store.release(job_id, error)
            if error is None and self._state == "running":
                try:
                    self._send.send_nowait(job_id)
                except WouldBlock:
                    await self._deliver_slow(job_id)

        self._retry_group.start_soon(later, name=f"jobsim retry {job_id}")

    @property
    def _retry_group(self) -> anyio.abc.TaskGroup:
        group = self._retry_tg
        assert group is not None
        return group

    async def _finish(self, write: Awaitable[Any], job_id: str, worker_id: str) -> None:
        """Await a store write that ends an attempt. If someone else moved the job meanwhile
        (cancelled through the store by another process), keep their decision."""
        try:
            await write
        except InvalidTransition as exc:
            worker_logger.warning("%s: job %s: outcome dropped: %s", worker_id, job_id, exc)

    # -- cancellation ------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job: True if it ended ``cancelled``, False if it had already finished.

        A pending job is cancelled in the store. A job whose handler runs in this pool is
        cancelled cooperatively (its worker's cancel scope) and ends ``cancelled``, not
        ``failed``; this waits until the worker has recorded that. Unknown id: ``JobNotFound``.
        """
        job = await self.store.get(job_id)
        worker_id = self._running.get(job_id)
        if worker_id is None:
            if job.is_final:
                return False
            cancelled = await self.store.cancel(job_id, at=self._now())
            if cancelled:
                self.cancelled += 1
                if self._tracer is not None:
                    self._tracer("cancelled", self._now(), job_id, None)
            return cancelled
        outcome = self._cancelling.get(job_id)
        if outcome is None:
            outcome = self._cancelling[job_id] = _Outcome()
            self._worker_scopes[worker_id].cancel()
        await outcome.done.wait()
        return outcome.cancelled

    # -- pull mode: leases -------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew the leases of running jobs and requeue jobs whose lease lapsed elsewhere."""
        store = self.store
        assert isinstance(store, LeasingJobStore) and self.lease is not None
        every = self.lease / 3
        while True:
            await anyio.sleep(every)
            for job_id, worker_id in list(self._running.items()):
                if not await store.renew(job_id, worker_id, self.lease):
                    worker_logger.warning("%s: lost the lease on job %s", worker_id, job_id)
            moved = await store.requeue_expired()  # on the store's clock, shared by all
            if moved:
                logger.info("requeued %d job(s) whose lease expired", moved)

    # -- shutdown ----------------------------------------------------------------------------

    def _stop_intake(self) -> None:
        if self._state == "running":
            self._state = "closing"

    def _discard_queued(self) -> int:
        """Drop the ids waiting in the channel (their jobs stay pending in the store); this
        also lets blocked senders through. Returns how many were dropped."""
        dropped = 0
        while True:
            try:
                self._receive.receive_nowait()
            except (WouldBlock, EndOfStream):
                return dropped
            dropped += 1

    async def _await_intake_idle(self, discard: bool) -> None:
        """Step 2 of shutdown: wait until no submit/deliver is in progress, so closing the
        channel cannot hit a sender. With ``discard`` (no drain), queued ids are dropped so
        that senders blocked on a full channel get through."""
        while self._in_flight_submits:
            self._intake_progress = anyio.Event()
            if discard and self._discard_queued():
                await anyio.lowlevel.checkpoint()  # let the unblocked senders finish
                continue
            await self._intake_progress.wait()

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> ShutdownReport:
        """Stop the pool in the seed's order and report what is left.

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
        if self._state == "new":
            raise RuntimeError("shutdown() called on a pool that never started")
        assert self._shutdown_done is not None
        if self._state != "running":
            await self._shutdown_done.wait()
            assert self._report is not None
            return self._report
        start = self._now()
        wall_start = time.perf_counter()
        timed_out = False
        assert self._workers_done is not None
        self._stop_intake()  # 1. intake closed
        assert self._retries_scope is not None
        self._retries_scope.cancel()  # retry timers: their jobs stay pending
        logger.info("shutdown: intake closed (drain=%s, timeout=%s)", drain, timeout)
        with anyio.move_on_after(timeout) as deadline:
            if not drain or self.lease is not None:
                self._stop_taking = True
                for worker_id in list(self._idle):  # pull mode: wake idle workers
                    self._worker_scopes[worker_id].cancel()
            await self._await_intake_idle(discard=not drain)  # 2. in-flight submits done
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
            assert self._workers_scope is not None
            self._workers_scope.cancel()
            await self._await_intake_idle(discard=True)
            self._send.close()
            await self._workers_done.wait()
        self._receive.close()
        counts = await self.store.counts()
        self._report = ShutdownReport(
            completed=self.completed,
            failed=self.failed,
            pending=counts[_PENDING],
            interrupted=self.interrupted,
            duplicates_skipped=self.duplicates_skipped,
            retried=self.retried,
            cancelled=self.cancelled,
            drained=drain and not timed_out and self.lease is None,
            timed_out=timed_out,
            elapsed=self._now() - start,
        )
        self._state = "closed"  # 5. joined: every worker task has returned
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


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _check_seconds(name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
