"""The dispatch: where delivered jobs wait for a worker, and which one runs next.

In push mode the intake puts every delivered job here and each worker takes the next one.
The default is :class:`ChannelDispatch`, the Go service's single bounded channel read by
every worker (fan-out, FIFO, backpressure when full). A different policy is a different class
with the same six operations, for example a priority queue (``get`` returns the most urgent
job) or per-worker prefetch buffers (``get(worker_id)`` serves that worker's buffer first).

The dispatch only *notifies*: the worker that takes a job still has to win the store's claim
before it runs it, so a job delivered twice runs once, whatever the dispatch does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim.domain import Job
from jobsim.pool.waiting import Bounded, Getters

__all__ = ["ChannelDispatch", "Dispatch", "EndOfStream", "WouldBlock"]


@runtime_checkable
class Dispatch(Protocol):
    """What the intake puts into and the workers take from (one event loop, no locks).

    Contract (the pool relies on exactly this):

    * ``put_nowait(job)`` queues a job or raises :class:`anyio.WouldBlock` when full;
      ``await put(job)`` waits for room (backpressure). Both raise
      :class:`anyio.ClosedResourceError` after :meth:`close`.
    * ``taker(worker_id)`` returns that worker's ``get_nowait()``: a function that returns
      the next job for it or raises :class:`anyio.WouldBlock` when there is none (asked once
      per worker, so the hot path pays no extra call). ``await get(worker_id)`` waits for
      one. Once closed and empty, both raise :class:`anyio.EndOfStream`. ``get`` returns None
      when :meth:`wake` woke the waiting worker without a job (it then re-checks whether to
      stop).
    * ``wake(n)`` wakes up to ``n`` workers waiting in ``get`` (returns how many); it never
      drops or reorders a queued job.
    * ``close()`` ends intake: queued jobs are still handed out, then ``EndOfStream``.
    * ``discard_queued()`` drops every queued job (they stay pending in the store) and lets
      blocked ``put`` callers through; returns how many were dropped.
    * ``depth`` is the number of queued jobs, ``capacity`` the most it holds.
    """

    capacity: int

    @property
    def depth(self) -> int: ...

    def put_nowait(self, job: Job) -> None: ...

    async def put(self, job: Job) -> None: ...

    def taker(self, worker_id: str) -> Callable[[], Job]: ...

    async def get(self, worker_id: str) -> Job | None: ...

    def wake(self, n: int) -> int: ...

    def close(self) -> None: ...

    def discard_queued(self) -> int: ...


class ChannelDispatch(Bounded):
    """The Go service's one bounded channel that every worker reads: the first free worker
    takes the oldest job (FIFO).

    A deque with the parked workers and producers of :mod:`~jobsim.pool.waiting` beside it,
    rather than an anyio memory stream: a job goes in and out with one deque operation and no
    checkpoint, and a waiting worker is handed an arriving job directly.

    The pool's hot path may skip the calls (see :attr:`jobs`): the intake appends while no
    worker is parked (``getters`` empty) and there is room, a worker pops from the left while
    jobs are queued and then calls :meth:`admit` if ``producers`` wait for room. Everything
    else goes through the methods.
    """

    __slots__ = ("_closed", "capacity", "getters", "jobs")

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        #: the queued jobs, oldest first
        self.jobs: deque[Job] = deque()
        #: the workers parked in :meth:`get` (only while nothing is queued)
        self.getters = Getters()
        self._closed = False

    def __repr__(self) -> str:
        return f"<ChannelDispatch depth={self.depth} capacity={self.capacity}>"

    @property
    def depth(self) -> int:
        return len(self.jobs)

    def put_nowait(self, job: Job) -> None:
        if self._closed:
            raise ClosedResourceError
        if self.getters and self.getters.hand(job):  # a worker waits: nothing is queued
            return
        jobs = self.jobs
        if len(jobs) >= self.capacity:
            raise WouldBlock
        jobs.append(job)

    def _has_room(self) -> bool:
        return len(self.jobs) < self.capacity

    def admit(self) -> None:
        """Move the jobs of producers waiting for room in while there is room."""
        self.producers.admit(self._has_room, self.jobs.append)

    def _take(self) -> Job:
        jobs = self.jobs
        if jobs:
            job = jobs.popleft()
            if self.producers:
                self.producers.admit(self._has_room, jobs.append)
            return job
        if self._closed:
            raise EndOfStream
        raise WouldBlock

    def get_nowait(self, worker_id: str) -> Job:
        return self._take()

    def taker(self, worker_id: str) -> Callable[[], Job]:
        return self._take  # every worker reads the same queue

    async def get(self, worker_id: str) -> Job | None:
        if self.jobs or self._closed:  # (tested, not tried: a worker comes here to park, and
            return self._take()  # a raised WouldBlock costs half a microsecond)
        return await self.getters.wait(self.jobs.appendleft)

    def wake(self, n: int) -> int:
        return self.getters.wake(n)

    def close(self) -> None:
        self._closed = True
        self.getters.end_all()
        self.producers.refuse_all()

    def discard_queued(self) -> int:
        dropped = len(self.jobs)
        self.jobs.clear()
        return dropped + self.producers.drop_all()  # theirs stay pending in the store too
