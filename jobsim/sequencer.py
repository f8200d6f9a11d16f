"""Deterministic order for sleepers that wake at the same virtual instant (both backends).

Virtual time alone is not deterministic: when several tasks wake at the same instant, trio
deliberately shuffles them and asyncio runs them in heap order. :class:`Sequencer` fixes that
for the lab: sequenced sleepers resume one at a time in (deadline, key) order, each running
until everything is blocked again before the next goes, on asyncio (the
:class:`~jobsim.virtual_loop.VirtualEventLoop` does it) and on trio (the virtual clock's
autojump does it, see :func:`virtual_trio_clock`).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sniffio

from jobsim.virtual_loop import VirtualEventLoop, VirtualTimeError, is_virtual

__all__ = ["Sequencer", "tie_sleep", "trio_arbiter", "virtual_trio_clock"]


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


def _unbound(*_: Any) -> Any:
    raise RuntimeError("Sequencer.bind() was not called")


class _Turn:
    """A sleeper parked in the trio sequencer's heap (``task`` None once cancelled); called,
    it is the park's abort function."""

    __slots__ = ("task",)

    def __init__(self, task: Any) -> None:
        self.task = task

    def __call__(self, _: Any) -> Any:
        import trio

        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


class Sequencer:
    """Deterministic order for sleepers that wake at the same virtual instant.

    ``await seq.sleep(delay, key)`` sleeps like ``anyio.sleep``. Sequenced sleepers resume one
    at a time, each once everything else is blocked, in the order (deadline, ``key``), and
    each runs until everything is blocked again before the next resumes. That makes a run
    independent of the backend's scheduling order (trio shuffles on purpose), so asyncio and
    trio produce the same records. Keys must be mutually comparable (e.g. tuples of ints).

    On the :class:`VirtualEventLoop` the loop does this itself (:meth:`~VirtualEventLoop.
    sleep_sequenced`). On trio the virtual clock does it (:func:`virtual_trio_clock`, which
    ``jobsim.clock.run(..., clock="virtual")`` uses), with the same rule and the same
    clock arithmetic: sequenced sleepers park in a heap of the sequencer's own, and whenever
    trio finds every task blocked the clock releases the next one, first jumping to its
    deadline unless one of trio's own timers comes first (then trio's timer fires first). No
    task switches to an arbiter: one decision per idle moment, inside trio's run loop. Start
    :meth:`run` in a task group (``tg.start_soon(seq.run)``) and cancel it at the end.
    Virtual time only.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, Any, int, _Turn]] = []
        self._idlers: list[_Turn] = []  # trio: wait_idle() callers, woken before a jump
        self._count = 0
        self._trio = False
        self._clock: Any = None  # trio: the run's virtual clock, while run() arbitrates
        # trio: its clock's time, current_task and wait_task_rescheduled, found once
        self._now: Callable[[], float] = _unbound
        self._task: Callable[[], Any] = _unbound
        self._wait: Callable[[Any], Awaitable[Any]] = _unbound
        self._reschedule: Callable[[Any], None] = _unbound
        self._sleep: Callable[[float, Any], Awaitable[None]] | None = None

    def bind(self) -> Callable[[float, Any], Awaitable[None]]:
        """The sequenced sleep for the running loop: ``await sleep(delay, key)``."""
        if self._sleep is None:
            if sniffio.current_async_library() == "trio":
                if not is_virtual():
                    raise VirtualTimeError("Sequencer needs trio's MockClock (virtual time)")
                import trio

                self._trio = True
                self._now = trio.lowlevel.current_clock().current_time
                self._task = trio.lowlevel.current_task
                self._wait = trio.lowlevel.wait_task_rescheduled
                self._reschedule = trio.lowlevel.reschedule
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
        """Arbitrate ties until cancelled (on trio: hands this sequencer to the run's
        :class:`SequencedClock`; on asyncio the loop arbitrates by itself)."""
        self.bind()
        if not self._trio:
            await anyio.sleep_forever()
        import trio

        clock = trio.lowlevel.current_clock()
        seat = getattr(clock, "_jobsim_seat", None)
        if seat is None:
            raise VirtualTimeError(
                "Sequencer on trio needs jobsim's virtual trio clock (virtual_trio_clock(), "
                "which jobsim.clock.run(..., clock='virtual') sets up); the run's clock is "
                f"a {type(clock).__name__}"
            )
        if seat.sequencer is not None:
            raise RuntimeError("another Sequencer already arbitrates this trio run")
        token = trio_arbiter().set(self)
        seat.sequencer = self
        self._clock = clock
        try:
            await trio.sleep_forever()
        finally:
            seat.sequencer = None
            trio_arbiter().reset(token)

    def _on_idle(self, next_timer: float) -> bool:
        """Every trio task is blocked and none of trio's timers is due (the next one is due
        at ``next_timer``): release the next sleeper due now, else wake the ``wait_idle``
        callers, else jump the clock to the next sleeper's deadline and release it. False:
        nothing for the sequencer to do before trio's own next timer (the clock then jumps
        to that as MockClock does)."""
        clock = self._clock
        now_ = self._now
        reschedule = self._reschedule
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
            return True
        if not heap:
            return False
        deadline = heap[0][0]
        if deadline > now:
            if deadline >= next_timer:
                return False  # one of trio's own timers comes first (or at the same instant)
            while now < deadline:  # MockClock's own autojump arithmetic
                clock.jump(deadline - now)
                now = now_()
            if now != deadline:
                return True  # overshot: trio's timers up to now fire first
        turn = heappop(heap)[3]
        reschedule(turn.task)  # it runs until everything blocks again
        return True

    async def _trio_sleep(self, delay: float, key: Any) -> None:
        turn = _Turn(self._task())
        self._count += 1
        deadline = self._now() + (delay if delay > 0.0 else 0.0)
        heapq.heappush(self._heap, (deadline, key, self._count, turn))
        await self._wait(turn)

    async def _park(self, into: list[_Turn]) -> None:
        """Block the current trio task in ``into`` until the clock reschedules it."""
        turn = _Turn(self._task())
        into.append(turn)
        await self._wait(turn)


class _Seat:
    """Where a virtual trio clock keeps the :class:`Sequencer` that decides its jumps, and
    the deadline of trio's own next timer (MockClock is final, so the clock instance carries
    these two hooks of trio's run loop instead of a subclass)."""

    __slots__ = ("autojump", "next_timer", "now", "sequencer")

    def __init__(self, clock: Any, now: Callable[[], float]) -> None:
        self.autojump = clock._autojump  # MockClock's own: jump to trio's next timer
        self.now = now
        self.sequencer: Sequencer | None = None
        self.next_timer = math.inf

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # trio's run loop asks this with its next timer's deadline whenever no task is
        # runnable, just before it may call _autojump: note it (no statistics call later).
        # MockClock's answer at rate 0: no wait if due, else "forever" (autojump decides).
        self.next_timer = deadline
        return 0 if deadline - self.now() <= 0 else 999999999

    def __call__(self) -> None:
        # trio's run loop calls the clock's _autojump when every task is blocked and no
        # timer is due.
        sequencer = self.sequencer
        if sequencer is None or not sequencer._on_idle(self.next_timer):
            self.autojump()


def virtual_trio_clock() -> Any:
    """A fresh virtual clock for ``trio.run(..., clock=...)``: trio's
    ``MockClock(autojump_threshold=0)``, whose jumps a running :class:`Sequencer` decides.

    Its rate stays 0 (do not set one): then MockClock's time is exactly its jumped base
    (``base + 0.0 * (real - real_base)``), so ``current_time`` reads that attribute in C
    instead of calling ``perf_counter`` through two Python frames; trio's run loop, the
    sequencer and the pool ask for the time some fifteen times per job."""
    import trio.testing

    clock = trio.testing.MockClock(autojump_threshold=0)
    now = functools.partial(getattr, clock, "_virtual_base")
    clock.current_time = now  # type: ignore[method-assign]
    seat = _Seat(clock, now)
    clock._autojump = seat  # type: ignore[method-assign]
    clock.deadline_to_sleep_time = seat.deadline_to_sleep_time  # type: ignore[method-assign]
    clock._jobsim_seat = seat  # type: ignore[attr-defined]
    return clock
