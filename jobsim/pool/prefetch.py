"""Prefetch dispatch: each worker holds up to ``k`` jobs in a buffer of its own.

``WorkerPool(..., dispatch=Prefetch(4))`` models what Celery's prefetch multiplier and
Dramatiq's prefetch do: an arriving job is assigned at once, round-robin, to a worker whose
buffer has room (an idle worker gets it directly), and that worker alone will run it. A short
job can then wait behind a long one on a busy worker while another worker sits idle:
**head-of-line blocking**, which the shared channel (``dispatch="fifo"``) never shows. When
every buffer is full, jobs wait in a shared overflow of ``capacity`` slots (then ``put``
waits: backpressure) and move into the first buffer that frees room.

Buffered jobs are only notifications, like the channel's: the worker still has to win the
store's claim before it runs one, and ``discard_queued`` (a shutdown without drain) drops the
buffers, so their jobs simply stay pending in the store.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim.domain import Job
from jobsim.pool.waiting import Bounded, Waiter

__all__ = ["Prefetch", "PrefetchDispatch"]


@dataclass(frozen=True, slots=True)
class Prefetch:
    """``dispatch=Prefetch(k)``: up to ``k`` jobs wait in each worker's own buffer."""

    k: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"Prefetch(k): k must be an integer >= 1, got {self.k!r}")

    def build(self, capacity: int, clock: Callable[[], float]) -> PrefetchDispatch:
        return PrefetchDispatch(capacity, self.k)


class PrefetchDispatch(Bounded):
    """Per-worker buffers of ``k`` jobs, filled round-robin, over a shared overflow."""

    __slots__ = (
        "_buffers",
        "_closed",
        "_depth",
        "_getters",
        "_next",
        "_overflow",
        "_workers",
        "capacity",
        "k",
    )

    def __init__(self, capacity: int, k: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.k = k
        self._buffers: dict[str, deque[Job]] = {}
        self._workers: list[str] = []  # round-robin order: as workers first ask for work
        self._next = 0
        self._overflow: deque[Job] = deque()
        self._getters: dict[str, Waiter] = {}
        self._depth = 0
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<PrefetchDispatch k={self.k} depth={self._depth} "
            f"overflow={len(self._overflow)}/{self.capacity}>"
        )

    @property
    def depth(self) -> int:
        return self._depth

    def buffered(self) -> dict[str, int]:
        """Jobs waiting in each worker's buffer."""
        return {worker: len(buffer) for worker, buffer in self._buffers.items()}

    # -- intake ------------------------------------------------------------------------------

    def put_nowait(self, job: Job) -> None:
        if self._closed:
            raise ClosedResourceError
        if not self._assign(job):
            if len(self._overflow) >= self.capacity:
                raise WouldBlock
            self._overflow.append(job)
            self._depth += 1

    def _assign(self, job: Job) -> bool:
        """Give ``job`` to the next worker in turn that is idle or has room; False if none."""
        workers = self._workers
        n = len(workers)
        for step in range(n):
            worker = workers[(self._next + step) % n]
            waiter = self._getters.get(worker)
            if waiter is not None and not waiter.done:  # idle: straight to it
                del self._getters[worker]
                waiter.release(job)
            elif len(self._buffers[worker]) < self.k:
                self._buffers[worker].append(job)
                self._depth += 1
            else:
                continue
            self._next = (self._next + step + 1) % n
            return True
        return False

    def _refill(self, worker: str) -> None:
        """Room in ``worker``'s buffer: the oldest overflow job moves in, a putter moves up."""
        buffer = self._buffers[worker]
        overflow = self._overflow
        while overflow and len(buffer) < self.k:
            buffer.append(overflow.popleft())
        if self.producers:
            self.producers.admit(self._has_room, self._overflow_push)

    def _has_room(self) -> bool:
        return len(self._overflow) < self.capacity

    def _overflow_push(self, job: Job) -> None:
        self._overflow.append(job)
        self._depth += 1

    # -- workers -----------------------------------------------------------------------------

    def get_nowait(self, worker_id: str) -> Job:
        buffer = self._buffers.get(worker_id)
        if buffer is None:  # a worker seen for the first time joins the rotation
            buffer = self._buffers[worker_id] = deque()
            self._workers.append(worker_id)
            self._refill(worker_id)
        if not buffer:
            if self._closed:
                raise EndOfStream
            raise WouldBlock
        job = buffer.popleft()
        self._depth -= 1
        if self._overflow or self.producers:
            self._refill(worker_id)
        return job

    async def get(self, worker_id: str) -> Job | None:
        try:
            return self.get_nowait(worker_id)
        except WouldBlock:
            pass
        waiter = self._getters[worker_id] = Waiter()
        try:
            return await waiter.handed(functools.partial(self._buffer_first, worker_id))
        except BaseException:
            self._getters.pop(worker_id, None)
            raise

    def _buffer_first(self, worker_id: str, job: Job) -> None:
        """A job handed over as its worker was cancelled: first in that worker's buffer."""
        self._buffers[worker_id].appendleft(job)
        self._depth += 1

    def wake(self, n: int) -> int:
        woken = 0
        for worker in list(self._getters):
            if woken == n:
                break
            woken += self._getters.pop(worker).release()  # no job: woken to re-check
        return woken

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        for worker in list(self._getters):  # idle workers: their buffers are empty
            self._getters.pop(worker).release(end=True)
        self.producers.refuse_all()

    def discard_queued(self) -> int:
        dropped = self._depth
        for buffer in self._buffers.values():
            buffer.clear()
        self._overflow.clear()
        self._depth = 0
        return dropped + self.producers.drop_all()  # theirs stay pending in the store too
