"""How many workers run: scaling policies that drive :meth:`WorkerPool.resize`.

A scaler is any object with ``async def run(pool)``; the pool runs it beside its workers from
start to shutdown, on the pool's clock (so it works in virtual time, too) and stops it when
shutdown begins. Two come with jobsim:

* :class:`Schedule`: the worker count as a step function of time since the pool started;
* :class:`Autoscaler`: every ``interval`` seconds, the number of jobs in the pool (running
  plus queued) divided by ``target`` jobs per worker, within ``[min, max]``, with separate
  cool-downs for growing and shrinking and a ``startup`` delay before a new worker takes work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from jobsim import checks

__all__ = ["Autoscaler", "ScaledPool", "Scaler", "Schedule"]

logger = logging.getLogger("jobsim.pool")


class ScaledPool(Protocol):
    """What a scaler sees of a pool (a :class:`~jobsim.pool.core.WorkerPool` is one)."""

    @property
    def state(self) -> str: ...
    @property
    def workers(self) -> int: ...
    @property
    def busy(self) -> int: ...
    @property
    def queue_depth(self) -> int: ...
    def now(self) -> float: ...
    async def resize(self, workers: int) -> None: ...


@runtime_checkable
class Scaler(Protocol):
    """A scaling policy: ``await scaler.run(pool)`` resizes ``pool`` until cancelled."""

    async def run(self, pool: ScaledPool) -> None: ...


@dataclass(frozen=True)
class Schedule:
    """The worker count over time: ``Schedule([(0, 5), (3600, 20), (7200, 5)])`` runs 5
    workers from the start, 20 from one hour in, 5 again from two hours in (seconds on the
    pool's clock, from when the pool started)."""

    steps: Sequence[tuple[float, int]]

    def __post_init__(self) -> None:
        steps = [(float(t), n) for t, n in self.steps]
        if not steps:
            raise ValueError("Schedule needs at least one (time, workers) step, e.g. [(0, 5)]")
        last = -math.inf
        for t, n in steps:
            checks.non_negative("Schedule time", t)
            checks.count("Schedule workers", n)
            if t <= last:
                raise ValueError(f"Schedule times must increase, got {t:g} after {last:g}")
            last = t
        object.__setattr__(self, "steps", tuple(steps))

    def workers_at(self, t: float) -> int | None:
        """The scheduled count at ``t`` (None before the first step)."""
        count = None
        for at, n in self.steps:
            if at > t:
                break
            count = n
        return count

    async def run(self, pool: ScaledPool) -> None:
        start = pool.now()
        for at, n in self.steps:
            delay = start + at - pool.now()
            if delay > 0:
                await anyio.sleep(delay)
            await pool.resize(n)


@dataclass
class Autoscaler:
    """Size the pool to its load: ``ceil((busy + queued) / target)`` workers, in ``[min, max]``.

    Args:
        min, max: bounds on the worker count (``1 <= min <= max``); never left.
        target: jobs per worker to aim for (running plus queued); 1.0 keeps every job running
            with no queue, 2.0 lets one job wait per worker.
        interval: seconds between two looks at the load.
        up_cooldown: seconds after any resize before the next growth.
        down_cooldown: seconds after any resize before the next shrink (longer than
            ``up_cooldown`` avoids oscillation).
        startup: seconds a new worker takes before it takes work (provisioning lag): a
            decision to grow takes effect ``startup`` seconds later.

    ``history`` records every resize as ``(time, workers)`` on the pool's clock.
    """

    min: int = 1
    max: int = 10
    target: float = 1.0
    interval: float = 1.0
    up_cooldown: float = 0.0
    down_cooldown: float = 0.0
    startup: float = 0.0
    history: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        checks.count("Autoscaler.min", self.min)
        checks.count("Autoscaler.max", self.max)
        if self.max < self.min:
            raise ValueError(f"Autoscaler.max must be >= min ({self.min}), got {self.max}")
        checks.positive("Autoscaler.target", self.target)
        checks.positive("Autoscaler.interval", self.interval)
        checks.non_negative("Autoscaler.up_cooldown", self.up_cooldown)
        checks.non_negative("Autoscaler.down_cooldown", self.down_cooldown)
        checks.non_negative("Autoscaler.startup", self.startup)

    @classmethod
    def parse(cls, spec: str) -> Autoscaler:
        """``"MIN:MAX"`` (the ``--autoscale`` flag) -> an autoscaler looking every second,
        shrinking at most every 30 s."""
        low, sep, high = spec.partition(":")
        try:
            bounds = int(low), int(high)
        except ValueError:
            bounds = None
        if not sep or bounds is None:
            raise ValueError(f"expected MIN:MAX worker counts like 2:20, got {spec!r}")
        return cls(min=bounds[0], max=bounds[1], interval=1.0, down_cooldown=30.0)

    def desired(self, busy: int, queued: int) -> int:
        """The worker count for this load, within the bounds."""
        wanted = math.ceil((busy + queued) / self.target)
        return max(self.min, min(self.max, wanted))

    async def _resize(self, pool: ScaledPool, n: int) -> None:
        await pool.resize(n)
        self.history.append((pool.now(), n))

    async def run(self, pool: ScaledPool) -> None:
        if not self.min <= pool.workers <= self.max:
            await self._resize(pool, max(self.min, min(self.max, pool.workers)))
        last_change = -math.inf
        ordered = pool.workers  # the count once every provisioning under way has landed

        async def provision() -> None:
            await anyio.sleep(self.startup)
            if pool.state == "running" and ordered > pool.workers:
                await self._resize(pool, ordered)  # a shrink meanwhile may have cancelled it

        async with anyio.create_task_group() as provisioning:
            while True:
                await anyio.sleep(self.interval)
                now = pool.now()
                want = self.desired(pool.busy, pool.queue_depth)
                if want > ordered and now - last_change >= self.up_cooldown:
                    ordered, last_change = want, now
                    if self.startup > 0:
                        provisioning.start_soon(provision)
                    else:
                        await self._resize(pool, want)
                elif want < ordered and now - last_change >= self.down_cooldown:
                    ordered, last_change = want, now
                    if want < pool.workers:
                        await self._resize(pool, want)
