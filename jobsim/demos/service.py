"""The original Go service in miniature, for the shutdown demo: a producer, one bounded
channel, workers and a store, which :func:`jobsim.demos.shutdown` stops in a given order.

The correct order runs on the real :class:`~jobsim.WorkerPool`; the wrong orders need a
hand-written service with naive workers, because the pool cannot be stopped wrongly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream

from jobsim.demos.recording import Recorder, ids
from jobsim.domain import Job
from jobsim.events import TraceEvent
from jobsim.pool import WorkerPool
from jobsim.stores import InMemoryJobStore

_RUN_EVENTS = (TraceEvent.STARTED, TraceEvent.COMPLETED, TraceEvent.FAILED)

__all__ = ["MiniService"]


class MiniService:
    """The original Go service in miniature: a producer, one bounded channel, workers, a store."""

    def __init__(
        self,
        store: InMemoryJobStore,
        rec: Recorder,
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
                f"2. pool.shutdown(): closes the channel ({ids(pool.queue_depth)} queued), "
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
            return ids(send.statistics().current_buffer_used)

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
