"""What the bounded dispatches share: tasks parked until a job or a wake-up comes (the
workers in ``get``), and the producers blocked in ``put`` while the dispatch is full
(backpressure)."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim.domain import Job

__all__ = ["Bounded", "Getters", "Producers", "Waiter"]

_Future = asyncio.Future


class Waiter:
    """A task parked in ``get`` (``job`` handed over, or None: woken) or in ``put`` (its
    ``job``). ``done``: handed over, woken or given up; ``end``: closed (get: the end of the
    stream; put: refused).

    It parks the backend's own way (one future on asyncio, one reschedule on trio) rather
    than on an ``anyio.Event``: workers park and wake every time the queue runs dry, and the
    event's layers were a good part of a no-op job's cost. Cancellation works as usual."""

    __slots__ = ("_parked", "done", "end", "job")

    def __init__(self, job: Job | None = None) -> None:
        self.job = job
        self.done = False
        self.end = False
        self._parked: Any = None  # the asyncio future, or the trio task, while parked

    async def park(self) -> None:
        """Wait until :meth:`release` (returns at once if it came already)."""
        if self.done:
            return
        loop = asyncio._get_running_loop()
        if loop is not None:
            future = self._parked = _Future(loop=loop)  # loop.create_future(), one frame less
            await future
            return
        lowlevel = _trio_lowlevel()
        self._parked = lowlevel.current_task()

        def abort(_: object) -> Any:
            self._parked = None  # cancelled: a later release must not reschedule it
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)

    def _wake(self) -> None:
        parked, self._parked = self._parked, None
        if parked is None:
            return
        if isinstance(parked, asyncio.Future):
            if not parked.done():
                parked.set_result(None)
        else:
            _trio_lowlevel().reschedule(parked)

    async def handed(self, requeue: Callable[[Job], None]) -> Job | None:
        """As a getter: wait until handed a job (returned), woken (None) or ended
        (``EndOfStream``). A job handed over just as the task was cancelled goes back through
        ``requeue`` (first in line), so nothing handed out is lost."""
        try:
            # park(), inlined on asyncio: workers park whenever the queue runs dry (a tenth
            # of the no-op jobs), and every coroutine level costs on the way down and up
            loop = asyncio._get_running_loop()
            if loop is None:
                await self.park()
            elif not self.done:
                future = self._parked = _Future(loop=loop)
                await future
        except BaseException:
            if self.done and self.job is not None:
                requeue(self.job)
            self.done = True
            raise
        if self.end:
            raise EndOfStream
        return self.job

    def release(self, job: Job | None = None, *, end: bool = False) -> bool:
        """Wake the task (with ``job`` for a getter); False if it was no longer waiting."""
        if self.done:
            return False
        self.done = True
        if job is not None:
            self.job = job
        self.end = end
        self._wake()
        return True


@functools.cache
def _trio_lowlevel() -> ModuleType:
    import trio.lowlevel

    return trio.lowlevel


class Getters(deque[Waiter]):
    """Workers parked in ``get``, first come first served (a deque, so ``if getters`` costs
    no Python call on the hot path). A getter is parked only while nothing is queued."""

    __slots__ = ()

    def hand(self, job: Job) -> bool:
        """Give ``job`` straight to the longest-waiting worker; False if none waits."""
        while self:
            if self.popleft().release(job):
                return True
        return False

    def wait(self, requeue: Callable[[Job], None]) -> Coroutine[Any, Any, Job | None]:
        """Park at the end of the line (see :meth:`Waiter.handed`); await the result. (A
        plain function returning the waiter's coroutine: one coroutine level fewer.)"""
        waiter = Waiter()
        self.append(waiter)
        return waiter.handed(requeue)

    def wake(self, n: int) -> int:
        """Wake up to ``n`` parked workers without a job; how many."""
        woken = 0
        while woken < n and self:
            woken += self.popleft().release()
        return woken

    def end_all(self) -> None:
        """The dispatch closed while they wait (so it is empty): each sees the end."""
        while self:
            self.popleft().release(end=True)


class Producers(deque[Waiter]):
    """Producers blocked in ``put``, first come first served (a deque, like :class:`Getters`)."""

    __slots__ = ()

    async def wait(self, job: Job) -> None:
        """Park until :meth:`admit` moved ``job`` in (or dropped it); ``ClosedResourceError``
        if the dispatch closed first."""
        waiter = Waiter(job)
        self.append(waiter)
        try:
            await waiter.park()
        except BaseException:
            waiter.done = True  # (if it was let in already, the job stays queued)
            raise
        if waiter.end:
            raise ClosedResourceError

    def admit(self, has_room: Callable[[], bool], push: Callable[[Job], None]) -> None:
        """Move waiting producers' jobs in while there is room."""
        while self and has_room():
            waiter = self.popleft()
            if not waiter.done:
                assert waiter.job is not None
                push(waiter.job)
                waiter.release()

    def refuse_all(self) -> None:
        """The dispatch closed: every waiting ``put`` raises ``ClosedResourceError``."""
        while self:
            self.popleft().release(end=True)

    def drop_all(self) -> int:
        """Let every waiting ``put`` return without queuing its job (it stays pending in the
        store); how many."""
        dropped = 0
        while self:
            dropped += self.popleft().release()
        return dropped


class Bounded:
    """Base of the bounded dispatches: ``put`` waits for room through :class:`Producers`;
    ``taker`` binds a worker's ``get_nowait``. Subclasses define ``put_nowait`` and
    ``get_nowait(worker_id)``."""

    def __init__(self) -> None:
        #: producers waiting in :meth:`put` for room
        self.producers = Producers()

    def put_nowait(self, job: Job) -> None:
        raise NotImplementedError

    def get_nowait(self, worker_id: str) -> Job:
        raise NotImplementedError

    async def put(self, job: Job) -> None:
        try:
            self.put_nowait(job)
        except WouldBlock:
            await self.producers.wait(job)

    def taker(self, worker_id: str) -> Callable[[], Job]:
        """``worker_id``'s ``get_nowait`` (see :class:`~jobsim.pool.dispatch.Dispatch`)."""
        return functools.partial(self.get_nowait, worker_id)
