"""Deterministic order for sleepers that wake at the same virtual instant (both backends).

Virtual time alone is not deterministic: when several tasks wake at the same instant, trio
deliberately shuffles them and asyncio runs them in heap order. :class:`Sequencer` fixes that
for the lab: sequenced sleepers resume one at a time in (deadline, key) order, each running
until everything is blocked again before the next goes, on asyncio (the
:class:`~jobsim.virtual_loop.VirtualEventLoop` does it) and on trio (an arbiter task does it).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sniffio

from jobsim.virtual_loop import VirtualEventLoop, VirtualTimeError, is_virtual

__all__ = ["Sequencer", "tie_sleep", "trio_arbiter"]


@functools.cache
def trio_arbiter() -> Any:
    """The trio run's arbitrating :class:`Sequencer`, if any (a ``trio.lowlevel.RunVar``)."""
    import trio

    return trio.lowlevel.RunVar("jobsim_sequencer")


def tie_sleep() -> Callable[[float, Any], Awaitable[None]] | None:
    """The running loop's sequenced sleep, if something arbitrates ties in virtual time (the
    :class:`VirtualEventLoop`, or a running trio :class:`Sequencer`); else None.

    For the pool's own timers (retry backoffs): a plain sleep on trio wakes timers due at the
    same instant in an order that depends on memory addresses and its scheduler's RNG.
    """
    if sniffio.current_async_library() == "trio":
        arbiter = trio_arbiter().get(None)
        return None if arbiter is None else arbiter.bind()
    loop = asyncio.get_running_loop()
    return loop.sleep_sequenced if isinstance(loop, VirtualEventLoop) else None


class _Turn:
    """A sleeper parked in the trio arbiter's heap (``task`` None once cancelled)."""

    __slots__ = ("task",)

    def __init__(self, task: Any) -> None:
        self.task = task


class Sequencer:
    """Deterministic order for sleepers that wake at the same virtual instant.

    ``await seq.sleep(delay, key)`` sleeps like ``anyio.sleep``. Sequenced sleepers resume one
    at a time, each once everything else is blocked, in the order (deadline, ``key``), and
    each runs until everything is blocked again before the next resumes. That makes a run
    independent of the backend's scheduling order (trio shuffles on purpose), so asyncio and
    trio produce the same records. Keys must be mutually comparable (e.g. tuples of ints).

    On the :class:`VirtualEventLoop` the loop does this itself (:meth:`~VirtualEventLoop.
    sleep_sequenced`). On trio an arbiter task does it, with the same rule and the same clock
    arithmetic: it parks sequenced sleepers in a heap of its own, and when every task is
    blocked it releases the next one, first moving trio's ``MockClock`` to its deadline unless
    one of trio's own timers comes first (then it lets trio jump). Start :meth:`run` in a task
    group (``tg.start_soon(seq.run)``) and cancel it at the end. Virtual time only.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, Any, int, _Turn]] = []
        self._idlers: list[_Turn] = []  # trio: wait_idle() callers, woken before a jump
        self._count = 0
        self._wake: Any = None  # trio.Event while the arbiter waits for a first sleeper
        self._timer: Any = None  # trio.CancelScope while the arbiter waits for trio's timers
        self._trio = False
        self._sleep: Callable[[float, Any], Awaitable[None]] | None = None

    def bind(self) -> Callable[[float, Any], Awaitable[None]]:
        """The sequenced sleep for the running loop: ``await sleep(delay, key)``."""
        if self._sleep is None:
            if sniffio.current_async_library() == "trio":
                if not is_virtual():
                    raise VirtualTimeError("Sequencer needs trio's MockClock (virtual time)")
                self._trio = True
                self._sleep = self._trio_sleep
            else:
                loop = asyncio.get_running_loop()
                if not isinstance(loop, VirtualEventLoop):
                    raise VirtualTimeError(
                        "Sequencer needs jobsim's VirtualEventLoop on asyncio (virtual time); "
                        f"the running loop is {type(loop).__name__}"
                    )
                self._sleep = loop.sleep_sequenced
        return self._sleep

    async def sleep(self, delay: float, key: Any) -> None:
        """Sleep ``delay`` seconds; on a tie, resume in ``key`` order (see the class doc)."""
        await self.bind()(delay, key)

    async def run(self) -> None:
        """The arbiter (trio): releases sequenced sleepers in order. Runs until cancelled."""
        self.bind()
        if not self._trio:
            await anyio.sleep_forever()  # the VirtualEventLoop arbitrates by itself
        import trio
        import trio.testing

        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        now_ = trio.current_time
        idle = trio.testing.wait_all_tasks_blocked
        reschedule = trio.lowlevel.reschedule
        statistics = trio.lowlevel.current_statistics
        token = trio_arbiter().set(self)
        try:
            while True:
                await idle()
                await self._arbitrate(clock, now_, reschedule, statistics)
        finally:
            trio_arbiter().reset(token)

    async def _arbitrate(self, clock: Any, now_: Any, reschedule: Any, statistics: Any) -> None:
        """One idle moment on trio: release the next sleeper due now, else wake the
        ``wait_idle`` callers, else move the clock (or let trio move it to its own timer)."""
        import trio

        heap = self._heap
        heappop = heapq.heappop
        while heap and heap[0][3].task is None:
            heappop(heap)  # cancelled while it slept
        now = now_()
        if not (heap and heap[0][0] <= now) and self._idlers:
            idlers, self._idlers = self._idlers, []
            for turn in idlers:
                if turn.task is not None:
                    reschedule(turn.task)
            return
        if not heap:
            self._wake = trio.Event()
            await self._wake.wait()
            self._wake = None
            return
        deadline = heap[0][0]
        if deadline > now and deadline - now < statistics().seconds_to_next_deadline:
            while now < deadline:  # MockClock's own autojump arithmetic
                clock.jump(deadline - now)
                now = now_()
            if now != deadline:
                return  # overshot: trio's timers up to now fire first
        if deadline <= now:
            reschedule(heappop(heap)[3].task)  # it runs until everything blocks again
        else:  # one of trio's own timers comes first (or at the same instant)
            with trio.CancelScope(deadline=deadline) as self._timer:
                await trio.sleep_forever()
            self._timer = None

    async def _trio_sleep(self, delay: float, key: Any) -> None:
        import trio

        deadline = trio.current_time() + (delay if delay > 0.0 else 0.0)
        turn = _Turn(trio.lowlevel.current_task())
        self._count += 1
        heapq.heappush(self._heap, (deadline, key, self._count, turn))
        if self._timer is not None and deadline < self._timer.deadline:
            self._timer.deadline = deadline  # the arbiter must wake up earlier
        await self._park(None, turn)

    async def _park(self, into: list[_Turn] | None, turn: _Turn | None = None) -> None:
        """Block the current trio task until the arbiter reschedules it (``into``: a list
        to wait in, else ``turn`` is already in the heap)."""
        import trio

        if turn is None:
            turn = _Turn(trio.lowlevel.current_task())
        if into is not None:
            into.append(turn)
        if self._wake is not None:
            self._wake.set()

        def abort(_: Any) -> Any:
            turn.task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
