"""Limits per job type: a token bucket (``RateLimit``) and a cap on running jobs
(``Concurrency``), enforced where workers take their next job.

``WorkerPool(..., limits={"email": RateLimit(per_second=10, burst=5), "report":
Concurrency(2)})``. A worker never starts a job its type's limit forbids right now; it takes
the next job that is allowed instead (in the dispatch's order: FIFO, or priority), so no worker
sits idle while a runnable job waits. When only limited jobs wait, idle workers sleep until
the next token is due or a running job of a capped type ends. Time is the pool's clock, so
limits hold in virtual time as well.

A :class:`LimitedDispatch` keeps one FIFO per (priority, type) and picks, among the heads
whose type may start now, the most urgent (highest priority, then oldest; with aging, the
effective priority, see :mod:`jobsim.pool.priority`). Every job it hands out must come back
through :meth:`LimitedDispatch.done` once it has run (or its claim lost), which frees its
concurrency slot.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim.domain import Job
from jobsim.pool.waiting import Bounded

__all__ = ["Concurrency", "Limit", "LimitedDispatch", "RateLimit", "check_limits"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``per_second`` starts per second on average, bursts of up to ``burst``
    (a token bucket: full at the start, one token per ``1 / per_second`` seconds)."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        rate = self.per_second
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise TypeError(f"RateLimit.per_second must be a number, got {rate!r}")
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(
                f"RateLimit.per_second must be a positive, finite number of starts per second, "
                f"got {rate!r}"
            )
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"RateLimit.burst must be an integer >= 1, got {self.burst!r}")


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` jobs of the type running at once."""

    limit: int

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"Concurrency(limit) must be an integer >= 1, got {self.limit!r}")


Limit = RateLimit | Concurrency


def check_limits(limits: object) -> dict[str, tuple[Limit, ...]]:
    """``{type: limit or (limits...)}`` validated; a clear error names what is wrong."""
    if not isinstance(limits, Mapping):
        raise TypeError(
            f"limits must be a dict of job type -> RateLimit(...) or Concurrency(n), "
            f"got {type(limits).__name__}"
        )
    out: dict[str, tuple[Limit, ...]] = {}
    for job_type, value in limits.items():
        if not isinstance(job_type, str) or not job_type:
            raise TypeError(f"limits keys must be job types (non-empty strings), got {job_type!r}")
        values = tuple(value) if isinstance(value, tuple | list) else (value,)
        for limit in values:
            if not isinstance(limit, RateLimit | Concurrency):
                raise TypeError(
                    f"limits[{job_type!r}] must be RateLimit(per_second=..., burst=...) or "
                    f"Concurrency(n) (or a tuple of them), got {limit!r}"
                )
        out[job_type] = values
    return out


#: Clock slack when comparing times: a timer set for a token's time may fire a rounding error
#: early (on a virtual clock the next timer would then be at the same instant, forever).
_SLACK = 1e-9


class _Gate:
    """The state of one type's limits: the token bucket (as GCRA: the time the bucket would
    be empty, ``tat``) and the number running."""

    __slots__ = ("cap", "interval", "running", "tat", "tolerance")

    def __init__(self, limits: tuple[Limit, ...], now: float) -> None:
        self.interval = 0.0  # seconds per token; 0: no rate limit
        self.tolerance = 0.0  # how far ahead of tat a burst may run
        self.cap = 0  # 0: no concurrency cap
        for limit in limits:
            if isinstance(limit, RateLimit):
                self.interval = 1.0 / limit.per_second
                self.tolerance = (limit.burst - 1) * self.interval
            else:
                self.cap = limit.limit
        self.tat = now
        self.running = 0

    def wait(self, now: float) -> float:
        """0 if a job may start now, else seconds until it may (inf: when one ends)."""
        if self.cap and self.running >= self.cap:
            return math.inf
        if self.interval:
            allowed = self.tat - self.tolerance
            if now < allowed - _SLACK:
                return allowed - now
        return 0.0

    def take(self, now: float) -> None:
        if self.interval:
            self.tat = max(self.tat, now) + self.interval
        self.running += 1


class _Idle:
    """A worker waiting for a runnable job; ``stop``: woken to re-check whether to stop."""

    __slots__ = ("event", "stop")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.stop = False


class LimitedDispatch(Bounded):
    """A bounded queue that only hands out jobs their type's limits allow now."""

    def __init__(
        self,
        capacity: int,
        clock: Callable[[], float],
        limits: Mapping[str, tuple[Limit, ...]],
        *,
        by_priority: bool,
        aging: float | None = None,
    ) -> None:
        super().__init__()
        self.capacity = capacity
        self._clock = clock
        now = clock()
        self._gates = {job_type: _Gate(lim, now) for job_type, lim in limits.items()}
        self._by_priority = by_priority
        self._aging = aging
        self._queues: dict[tuple[int, str], deque[tuple[float, int, Job]]] = {}
        self._depth = 0
        self._seq = 0
        self._idle: list[_Idle] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<LimitedDispatch depth={self._depth} capacity={self.capacity}>"

    @property
    def depth(self) -> int:
        return self._depth

    def _wake_one(self) -> None:
        if self._idle:
            self._idle.pop(0).event.set()

    def _wake_all(self) -> None:
        while self._idle:
            self._idle.pop().event.set()

    # -- intake ------------------------------------------------------------------------------

    def put_nowait(self, job: Job) -> None:
        if self._closed:
            raise ClosedResourceError
        if self._depth >= self.capacity:
            raise WouldBlock
        self._push(job)
        self._wake_one()

    def _push(self, job: Job) -> None:
        key = (job.priority if self._by_priority else 0, job.type)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        self._seq += 1
        queue.append((self._clock(), self._seq, job))
        self._depth += 1

    def _has_room(self) -> bool:
        return self._depth < self.capacity

    # -- workers -----------------------------------------------------------------------------

    def _pick(self, now: float) -> tuple[tuple[int, str] | None, float]:
        """The queue whose head runs next, or None and how long until one may start."""
        best: tuple[int, str] | None = None
        best_key: tuple[float, int] = (-math.inf, 0)
        soonest = math.inf
        gates = self._gates
        aging = self._aging
        for key, queue in self._queues.items():
            gate = gates.get(key[1])
            if gate is not None:
                wait = gate.wait(now)
                if wait > 0:
                    soonest = min(soonest, wait)
                    continue
            since, seq, _ = queue[0]
            level = key[0] if aging is None else key[0] + math.floor((now - since) / aging)
            rank = (level, -seq)
            if rank > best_key:
                best, best_key = key, rank
        return best, soonest

    def get_nowait(self, worker_id: str) -> Job:
        if not self._depth:
            if self._closed:
                raise EndOfStream
            raise WouldBlock
        now = self._clock()
        key, _ = self._pick(now)
        if key is None:
            raise WouldBlock
        return self._take(key, now)

    def _take(self, key: tuple[int, str], now: float) -> Job:
        queue = self._queues[key]
        job = queue.popleft()[2]
        if not queue:
            del self._queues[key]
        self._depth -= 1
        gate = self._gates.get(key[1])
        if gate is not None:
            gate.take(now)
        if self._closed and not self._depth:
            # Workers parked while a closed queue still held jobs they could not start must now
            # see the end of the stream, or they (and the shutdown joining them) wait for ever.
            self._wake_all()
        if self.producers:
            self.producers.admit(self._has_room, self._push)
        return job

    async def get(self, worker_id: str) -> Job | None:
        while True:
            if not self._depth and self._closed:
                raise EndOfStream
            now = self._clock()
            if self._depth:
                key, soonest = self._pick(now)
                if key is not None:
                    return self._take(key, now)
            else:
                soonest = math.inf
            idle = _Idle()
            self._idle.append(idle)
            try:
                with anyio.move_on_after(soonest):
                    await idle.event.wait()
            finally:
                if not idle.event.is_set():
                    self._idle.remove(idle)
            if idle.stop:
                return None  # woken without a job: the caller re-checks whether to stop

    def done(self, job: Job) -> None:
        """A job handed out has run (or its claim lost): free its concurrency slot."""
        gate = self._gates.get(job.type)
        if gate is not None and gate.running:
            gate.running -= 1
            if gate.cap and self._depth:
                self._wake_one()

    def wake(self, n: int) -> int:
        woken = 0
        while woken < n and self._idle:
            idle = self._idle.pop(0)
            idle.stop = True
            idle.event.set()
            woken += 1
        return woken

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        self._wake_all()
        self.producers.refuse_all()

    def discard_queued(self) -> int:
        dropped = self._depth
        self._queues.clear()
        self._depth = 0
        if self._closed:
            self._wake_all()
        return dropped + self.producers.drop_all()  # theirs stay pending in the store too
