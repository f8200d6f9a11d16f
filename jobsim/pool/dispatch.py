"""The dispatch: where delivered jobs wait for a worker, and which one runs next.

In push mode the intake puts every delivered job here and each worker takes the next one.
Today's dispatch is :class:`ChannelDispatch`, the Go service's single bounded channel read by
every worker (fan-out, FIFO, backpressure when full). A different policy is a different class
with the same six operations, for example a priority queue (``get`` returns the most urgent
job) or per-worker prefetch buffers (``get(worker_id)`` serves that worker's buffer first).

The dispatch only *notifies*: the worker that takes a job still has to win the store's claim
before it runs it, so a job delivered twice runs once, whatever the dispatch does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import anyio
from anyio import EndOfStream, WouldBlock

from jobsim.domain import Job

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


class ChannelDispatch:
    """One bounded anyio memory object stream that every worker reads: first free worker
    takes the oldest job (FIFO)."""

    __slots__ = ("_receive", "_send", "capacity", "put_nowait")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._send, self._receive = anyio.create_memory_object_stream[Job | None](capacity)
        #: the stream's own send_nowait: no wrapper on the hot path
        self.put_nowait: Callable[[Job], None] = self._send.send_nowait

    def __repr__(self) -> str:
        return f"<ChannelDispatch depth={self.depth} capacity={self.capacity}>"

    @property
    def depth(self) -> int:
        return self._send.statistics().current_buffer_used

    async def put(self, job: Job) -> None:
        await self._send.send(job)

    def taker(self, worker_id: str) -> Callable[[], Job]:
        # Every worker reads the same stream. It holds no None: wake() hands those straight
        # to waiting receivers.
        return self._receive.receive_nowait  # type: ignore[return-value]

    async def get(self, worker_id: str) -> Job | None:
        return await self._receive.receive()

    def wake(self, n: int) -> int:
        # A None goes straight to a waiting receiver (the buffer is empty while one waits),
        # so it never takes a slot or overtakes a job. Cancelling the waiter instead could
        # lose a job handed to it in the same instant.
        woken = 0
        while woken < n and self._receive.statistics().tasks_waiting_receive:
            self._send.send_nowait(None)
            woken += 1
        return woken

    def close(self) -> None:
        self._send.close()

    def discard_queued(self) -> int:
        dropped = 0
        while True:
            try:
                self._receive.receive_nowait()
            except (WouldBlock, EndOfStream):
                return dropped
            dropped += 1
