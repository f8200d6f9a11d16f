"""Priority dispatch: the most urgent waiting job runs next, with optional aging.

``WorkerPool(..., dispatch="priority")`` or ``dispatch=Priority(aging=30.0)`` replaces the FIFO
channel by a bounded priority queue with the same contract (see
:class:`~jobsim.pool.dispatch.Dispatch`): ``put`` waits while it holds ``capacity`` jobs
(backpressure), a worker waiting for work gets an arriving job at once, ``close`` lets the
workers take what is queued and then ends them, ``discard_queued`` drops what is queued (the
jobs stay pending in the store). Jobs of one priority leave in arrival order (FIFO).

**Aging** against starvation: with ``aging=a`` a job that has waited ``w`` seconds competes
with priority ``priority + floor(w / a)``; equal effective priorities go oldest first. Time is
the pool's clock, so aging works in virtual time too.

The queue keeps one FIFO per priority level, so taking the next job costs a look at the
highest level (without aging) or at the head of each level (with aging): levels are few.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim.domain import Job
from jobsim.pool.waiting import Bounded, Getters

__all__ = ["Priority", "PriorityDispatch"]

_KEEP_LEVELS = 64


@dataclass(frozen=True, slots=True)
class Priority:
    """``dispatch=Priority(aging=None)``: highest ``Job.priority`` first, FIFO within one.

    Args:
        aging: seconds of waiting that raise a job's effective priority by one (``None``:
            no aging; low priorities may starve under sustained high-priority load).
    """

    aging: float | None = None

    def __post_init__(self) -> None:
        aging = self.aging
        if aging is not None and (
            isinstance(aging, bool)
            or not isinstance(aging, int | float)
            or not (aging > 0 and math.isfinite(aging))
        ):
            raise ValueError(
                f"Priority.aging must be a positive, finite number of seconds or None, "
                f"got {aging!r}"
            )

    def build(self, capacity: int, clock: Callable[[], float]) -> PriorityDispatch:
        return PriorityDispatch(capacity, clock, self.aging)


class PriorityDispatch(Bounded):
    """A bounded priority queue of jobs (see the module docstring)."""

    __slots__ = (
        "_aging",
        "_clock",
        "_closed",
        "_depth",
        "_getters",
        "_levels",
        "_order",
        "_seq",
        "capacity",
    )

    def __init__(
        self, capacity: int, clock: Callable[[], float], aging: float | None = None
    ) -> None:
        super().__init__()
        self.capacity = capacity
        self._clock = clock
        self._aging = aging
        self._levels: dict[int, deque[tuple[float, int, Job]]] = {}
        self._order: list[int] = []  # the priorities with queued jobs, ascending
        self._depth = 0
        self._seq = 0
        self._getters = Getters()
        self._closed = False

    def __repr__(self) -> str:
        aging = "" if self._aging is None else f" aging={self._aging:g}"
        return f"<PriorityDispatch depth={self._depth} capacity={self.capacity}{aging}>"

    @property
    def depth(self) -> int:
        return self._depth

    # -- intake ------------------------------------------------------------------------------

    def put_nowait(self, job: Job) -> None:
        if self._closed:
            raise ClosedResourceError
        if self._getters and self._getters.hand(job):  # a worker waits: nothing is queued
            return
        if self._depth >= self.capacity:
            raise WouldBlock
        self._push(job, self._clock() if self._aging is not None else 0.0)

    def _push(self, job: Job, now: float, first: bool = False) -> None:
        priority = job.priority
        level = self._levels.get(priority)
        if level is None:  # an emptied level is kept for reuse (up to _KEEP_LEVELS of them)
            level = self._levels[priority] = deque()
        if not level:
            insort(self._order, priority)
        self._seq += 1
        if first:
            level.appendleft((now, -self._seq, job))
        else:
            level.append((now, self._seq, job))
        self._depth += 1

    def _has_room(self) -> bool:
        return self._depth < self.capacity

    def _push_now(self, job: Job) -> None:
        self._push(job, self._clock() if self._aging is not None else 0.0)

    def _push_first(self, job: Job) -> None:
        self._push(job, self._clock() if self._aging is not None else 0.0, True)

    # -- workers -----------------------------------------------------------------------------

    def _next_level(self) -> int:
        order = self._order
        aging = self._aging
        if aging is None or len(order) == 1:
            return order[-1]
        now = self._clock()
        levels = self._levels
        best = order[-1]
        since, seq, _ = levels[best][0]
        best_key = (best + math.floor((now - since) / aging), -seq)
        for priority in order[-2::-1]:
            since, seq, _ = levels[priority][0]
            key = (priority + math.floor((now - since) / aging), -seq)
            if key > best_key:
                best, best_key = priority, key
        return best

    def get_nowait(self, worker_id: str) -> Job:
        return self._take()

    def taker(self, worker_id: str) -> Callable[[], Job]:
        return self._take  # one queue for every worker

    def _take(self) -> Job:
        if not self._depth:
            if self._closed:
                raise EndOfStream
            raise WouldBlock
        order = self._order
        priority = order[-1] if self._aging is None or len(order) == 1 else self._next_level()
        level = self._levels[priority]
        job = level.popleft()[2]
        if not level:
            order.remove(priority)
            if len(self._levels) > _KEEP_LEVELS:  # many distinct priorities: don't hoard them
                del self._levels[priority]
        self._depth -= 1
        if self.producers:
            self.producers.admit(self._has_room, self._push_now)
        return job

    async def get(self, worker_id: str) -> Job | None:
        if self._depth or self._closed:  # (tested, not tried: a worker comes here to park, and
            return self._take()  # a raised WouldBlock costs half a microsecond)
        return await self._getters.wait(self._push_first)

    def wake(self, n: int) -> int:
        return self._getters.wake(n)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        self._getters.end_all()  # idle workers (nothing is queued): the end
        self.producers.refuse_all()

    def discard_queued(self) -> int:
        dropped = self._depth
        self._levels.clear()
        self._order.clear()
        self._depth = 0
        return dropped + self.producers.drop_all()  # theirs stay pending in the store too
