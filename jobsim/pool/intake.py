"""The intake: the way jobs come in (submit, deliver), backpressure, and the closing gate.

``submit`` stores a job and hands it to the dispatch; ``deliver`` hands over a job that is
already stored. When the dispatch is full the caller waits (backpressure). The gate closes at
the start of a shutdown: from then on both raise :class:`~jobsim.domain.PoolClosed` before
anything is stored, so nothing is half-accepted. Shutdown then waits for the calls already in
progress (:meth:`Intake.wait_idle`) before it closes the dispatch: a sender can never hit a
closed channel (Go's "send on closed channel").

In pull mode there is no dispatch: the store itself is the queue, so the intake only stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, NoReturn

import anyio
import anyio.lowlevel
from anyio import WouldBlock

from jobsim.domain import Job, PoolClosed
from jobsim.events import TraceEvent, Tracer
from jobsim.pool.dispatch import ChannelDispatch, Dispatch
from jobsim.stores.base import JobStore, NonBlockingJobStore

__all__ = ["Intake", "State"]

State = Literal["new", "running", "closing", "closed"]

_QUEUED = TraceEvent.QUEUED


class Intake:
    """Submit and deliver for one pool; owns the pool's lifecycle state."""

    __slots__ = (
        "_add_nowait",
        "_channel",
        "_dispatch",
        "_in_flight",
        "_progress",
        "clock",
        "discarding",
        "state",
        "store",
        "tracer",
    )

    def __init__(
        self,
        store: JobStore,
        dispatch: Dispatch | None,
        clock: Callable[[], float],
        tracer: Tracer | None,
    ) -> None:
        self.store = store
        self._dispatch: Dispatch | None = None
        self._channel: ChannelDispatch | None = None
        self.clock = clock
        self.tracer = tracer
        self.state: State = "new"
        #: set by a shutdown without drain: a delivery waiting for room gives up (the job
        #: stays pending in the store, where a later pool finds it)
        self.discarding = False
        self._in_flight = 0
        self._progress: anyio.Event | None = None
        # The declared fast path of stores that never wait (checked once, here).
        self._add_nowait = store.add_nowait if isinstance(store, NonBlockingJobStore) else None
        self.attach(dispatch)

    def attach(self, dispatch: Dispatch | None) -> None:
        """Deliver into ``dispatch`` (None: pull mode). Decided here, once: an untraced
        submit to a store that never waits appends to the FIFO channel's queue itself while it
        has room and no worker is parked (see :class:`ChannelDispatch`)."""
        self._dispatch = dispatch
        fast = self._add_nowait is not None and self.tracer is None
        self._channel = dispatch if fast and type(dispatch) is ChannelDispatch else None

    @property
    def is_open(self) -> bool:
        return self.state == "running"

    async def submit(self, job: Job) -> Job:
        """Store ``job`` as pending and deliver it; waits while the dispatch is full."""
        if self.state != "running":
            self.refuse("submit")
        add_nowait = self._add_nowait
        dispatch = self._dispatch
        if add_nowait is None or dispatch is None:
            await self._submit_awaiting(job)
            return job
        # The hot path: nothing awaited, so no shutdown can start in between (the dispatch is
        # open) and the call need not be counted in flight unless it has to wait for room.
        add_nowait(job, at=self.clock())
        channel = self._channel
        if channel is not None and not channel.getters and len(channel.jobs) < channel.capacity:
            channel.jobs.append(job)  # ChannelDispatch.put_nowait's common case, inlined
            return job
        try:
            dispatch.put_nowait(job)
        except WouldBlock:
            await self._wait_for_room(job)
            return job
        if self.tracer is not None:
            self.tracer(_QUEUED, self.clock(), job.id, None)
        return job

    async def submit_many(self, jobs: Iterable[Job]) -> list[Job]:
        """Submit ``jobs`` in order, as a loop of :meth:`submit` would, in one call: no
        coroutine per job. If one is refused (a duplicate id, the pool closing while this
        waited for room), those before it stay submitted and the rest are not."""
        submitted: list[Job] = []
        add_nowait = self._add_nowait
        dispatch = self._dispatch
        clock, tracer = self.clock, self.tracer
        channel = self._channel
        capacity = channel.capacity if channel is not None else 0
        for job in jobs:
            if self.state != "running":
                self.refuse("submit", len(submitted))
            if add_nowait is None or dispatch is None:
                await self._submit_awaiting(job)
            else:
                add_nowait(job, at=clock())
                if channel is not None and not channel.getters and len(channel.jobs) < capacity:
                    channel.jobs.append(job)  # as in submit
                else:
                    try:
                        dispatch.put_nowait(job)
                    except WouldBlock:
                        await self._wait_for_room(job)
                    else:
                        if tracer is not None:
                            tracer(_QUEUED, clock(), job.id, None)
            submitted.append(job)
        return submitted

    async def _submit_awaiting(self, job: Job) -> None:
        """Submit through the store's coroutine (or without a dispatch: pull mode)."""
        self._in_flight += 1
        try:
            if self._add_nowait is not None:
                self._add_nowait(job, at=self.clock())
            else:
                await self.store.add(job, at=self.clock())
            if self._dispatch is not None:
                await self.redeliver(job)
        finally:
            self._leave()

    async def _wait_for_room(self, job: Job) -> None:
        """A stored job that found the dispatch full: deliver it once there is room, counted
        in flight meanwhile (shutdown waits for it)."""
        self._in_flight += 1
        try:
            await self.put_waiting(job)
        finally:
            self._leave()

    async def deliver(self, job_id: str) -> None:
        """Deliver a stored job (again); the claim makes a second delivery harmless."""
        if self.state != "running":
            self.refuse("deliver")
        self._in_flight += 1
        try:
            job = await self.store.get(job_id)
            if self._dispatch is not None:
                await self.redeliver(job)
        finally:
            self._leave()

    async def redeliver(self, job: Job) -> None:
        """Hand ``job`` to the dispatch (a retry after its delay, a deliver)."""
        dispatch = self._dispatch
        assert dispatch is not None
        try:
            dispatch.put_nowait(job)
            if self.tracer is not None:
                self.tracer(_QUEUED, self.clock(), job.id, None)
        except WouldBlock:
            await self.put_waiting(job)

    async def put_waiting(self, job: Job) -> None:
        """Wait for room in the dispatch (backpressure). No cancel scope here (~10 µs each):
        a shutdown without drain unblocks this by discarding what is queued instead."""
        if self.discarding:
            return
        assert self._dispatch is not None
        await self._dispatch.put(job)
        if self.tracer is not None:
            self.tracer(_QUEUED, self.clock(), job.id, None)

    def refuse(self, what: str, submitted: int = 0) -> NoReturn:
        """Raise the :class:`PoolClosed` that says why ``what`` cannot happen now
        (``submitted``: how many jobs of a batch got in before)."""
        if self.state == "new":
            raise PoolClosed(
                f"cannot {what}: the pool has not started; use 'async with WorkerPool(...)'"
            )
        before = f"; the first {submitted} job(s) of this batch were submitted" if submitted else ""
        raise PoolClosed(f"cannot {what}: the pool is {self.state} (shutdown was called){before}")

    def close(self) -> None:
        """Close the gate: submit and deliver refuse from now on."""
        if self.state == "running":
            self.state = "closing"

    def _leave(self) -> None:
        self._in_flight -= 1
        if self.state != "running" and self._progress is not None:
            self._progress.set()  # shutdown is waiting for in-flight calls

    async def wait_idle(self, discard: bool) -> None:
        """Wait until no submit/deliver is in progress, so the dispatch can close. With
        ``discard`` (no drain), queued jobs are dropped so that blocked senders get through."""
        dispatch = self._dispatch
        while self._in_flight:
            self._progress = anyio.Event()
            if discard and dispatch is not None and dispatch.discard_queued():
                await anyio.lowlevel.checkpoint()  # let the unblocked senders finish
                continue
            await self._progress.wait()
