"""The asyncio side of virtual time: :class:`VirtualEventLoop`, a selector event loop whose
``time()`` is virtual.

Its ``_run_once`` is lean: a heap of timers, no ``select`` syscall while work is ready, no real
sleeping, and one call runs until the loop is asked to stop. When nothing is ready it jumps the
clock with the *same* float arithmetic as trio's MockClock (``now += deadline - now``), so both
backends see bit-identical times. A sequenced sleeper it releases (the lab's every arrival and
service time) resumes at once: the loop runs its task's wake-up itself instead of queueing a
handle for it, which halves the cost of a virtual sleep.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import heapq
import math
import selectors
from collections.abc import Callable
from typing import Any

import sniffio

from jobsim.domain import JobsimError

__all__ = ["VirtualEventLoop", "VirtualTimeError", "is_virtual"]

_Future = asyncio.Future
_new = object.__new__
_heappush = heapq.heappush

# Poll the selector (threads' wake-ups, real I/O) every this many loop iterations while there
# is always work ready; call_soon_threadsafe callbacks run without it, this only drains the pipe.
_POLL_EVERY = 1024


class VirtualTimeError(JobsimError, ValueError):
    """Something that needs real time (CPU-bound work, a wall-clock deadline) met the virtual
    clock."""


class _Handle(asyncio.Handle):
    """A :class:`asyncio.Handle` without the debug-mode bookkeeping, filled in by
    :meth:`VirtualEventLoop.call_soon` itself (the loop never runs in debug mode's slow path;
    ``loop.set_debug(True)`` falls back to asyncio's own handles)."""

    __slots__ = ()
    # asyncio.Handle's slots (not in the type stubs)
    _callback: Callable[..., object]
    _args: tuple[Any, ...]
    _loop: asyncio.AbstractEventLoop
    _context: contextvars.Context
    _repr: str | None
    _source_traceback: Any


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual clock that jumps to the next timer when idle.

    Everything asyncio offers keeps working (threads' ``call_soon_threadsafe``, executors,
    sockets); only time is virtual. ``loop.time()`` starts at 0.0. While callbacks are ready
    the loop never calls ``select``. When nothing is ready and no timer is due it, in order:
    releases the next *sequenced* sleeper due now (:meth:`sleep_sequenced`, one at a time),
    wakes the :meth:`wait_idle` waiters, or jumps the clock to the earliest timer. With no
    timer at all (or only at infinity: ``sleep_forever``) it blocks in ``select`` (a thread
    or a socket may still wake it).
    """

    # asyncio.BaseEventLoop internals that this loop drives (not in the type stubs).
    _ready: collections.deque[Any]  # of asyncio.Handle
    _scheduled: list[Any]  # heap of asyncio.TimerHandle
    _timer_cancelled_count: int
    _stopping: bool
    _debug: bool
    _closed: bool
    _selector: selectors.BaseSelector
    _process_events: Callable[[list[Any]], None]

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        super().__init__(selector)
        self._virtual_now = 0.0
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._sequenced: list[tuple[float, Any, int, asyncio.Future[None]]] = []
        self._sequence = 0

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        # Every C future asks its loop's get_debug() when it is made (a run makes two or
        # three a job): answer through a C callable rather than a Python method.
        self.get_debug = bool(enabled).__bool__  # type: ignore[method-assign]

    def time(self) -> float:
        """The virtual time in seconds (0.0 when the loop was created)."""
        return self._virtual_now

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if self._debug or self._closed:
            return super().call_soon(callback, *args, context=context)
        # _Handle.__init__, inlined: every task step of a run comes through here.
        handle = _new(_Handle)
        handle._callback = callback
        handle._args = args
        handle._loop = self
        handle._context = contextvars.copy_context() if context is None else context
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = None
        self._ready.append(handle)
        return handle

    def wait_idle(self) -> asyncio.Future[None]:
        """A future resolved once nothing else is ready to run, no timer and no sequenced
        sleeper is due, i.e. just before the clock would jump (or the loop would block)."""
        future: asyncio.Future[None] = self.create_future()
        self._idle_waiters.append(future)
        return future

    def sleep_sequenced(self, delay: float, key: Any) -> asyncio.Future[None]:
        """A future resolved ``delay`` seconds from now, in ``key`` order among sleepers due
        at the same instant, each only once everything else is blocked (see
        :class:`Sequencer`). Await it like ``asyncio.sleep``; cancelling it is fine."""
        future: asyncio.Future[None] = _Future(loop=self)
        self._sequence += 1
        deadline = self._virtual_now + (delay if delay > 0.0 else 0.0)
        _heappush(self._sequenced, (deadline, key, self._sequence, future))
        return future

    def _run_once(self) -> None:
        """Run until the loop is asked to stop (one call, not one per batch: in virtual time
        the loop never waits, so the per-iteration bookkeeping of ``run_forever`` is saved)."""
        ready = self._ready
        popleft = ready.popleft
        sequenced = self._sequenced
        heappop = heapq.heappop
        batches = 0
        while True:
            scheduled = self._scheduled
            now = self._virtual_now
            if scheduled:
                if self._timer_cancelled_count > 64 + (len(scheduled) >> 1):
                    scheduled = self._drop_cancelled()
                if scheduled and scheduled[0]._when <= now:
                    self._ready_due(now)
            if not ready:
                if self._stopping:
                    return
                # The common idle moment, inlined from _idle: the next sequenced sleeper is
                # due now, or (no wait_idle caller, no timer before it) after a jump.
                entry = sequenced[0] if sequenced else None
                if entry is not None and not entry[3].done():
                    deadline = entry[0]
                    if (
                        deadline > now
                        and not self._idle_waiters
                        and (not scheduled or scheduled[0]._when > deadline)
                    ):
                        while now < deadline:  # MockClock's arithmetic (see _jump)
                            now += deadline - now
                        self._virtual_now = now
                    if deadline <= now:
                        heappop(sequenced)
                        future = entry[3]
                        # Its one waiter (the sleeping task's wake-up) runs now, as it would
                        # first thing from the ready queue, without a handle to get there.
                        waiters = future._callbacks
                        if waiters is None or len(waiters) != 1 or self._debug:
                            future.set_result(None)
                        else:
                            wake, context = waiters[0]
                            future.remove_done_callback(wake)
                            future.set_result(None)
                            try:
                                context.run(wake, future)
                            except (SystemExit, KeyboardInterrupt):
                                raise
                            except BaseException as exc:
                                self.call_exception_handler(
                                    {"message": f"Exception in {wake!r}", "exception": exc}
                                )
                            if self._stopping:
                                return  # as after a batch: what it readied runs next time
                    else:
                        self._idle(now)
                else:
                    self._idle(now)
            if self._debug:
                for _ in range(len(ready)):
                    handle = popleft()
                    if not handle._cancelled:
                        handle._run()
                return
            # Run what is ready, then what that made ready, until nothing is: virtual time
            # cannot move meanwhile (the order stays FIFO).
            while ready:
                batches += 1
                if batches % _POLL_EVERY == 0:
                    self._process_events(self._selector.select(0))
                for _ in range(len(ready)):
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    try:
                        handle._context.run(handle._callback, *handle._args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self.call_exception_handler(
                            {
                                "message": f"Exception in callback {handle._callback!r}",
                                "exception": exc,
                                "handle": handle,
                            }
                        )
                if self._stopping:
                    return

    def _drop_cancelled(self) -> list[Any]:
        """Many cancelled timers (e.g. cancelled timeouts): rebuild the heap without them."""
        live = []
        for handle in self._scheduled:
            if handle._cancelled:
                handle._scheduled = False
            else:
                live.append(handle)
        heapq.heapify(live)
        self._scheduled = live
        self._timer_cancelled_count = 0
        return live

    def _idle(self, now: float) -> None:
        """Nothing is ready at ``now``: release the next sequenced sleeper due (one per idle
        moment: ties in key order), else wake the :meth:`wait_idle` waiters, else jump the
        clock, and release the sleeper the jump reached unless timers came due with it."""
        sequenced = self._sequenced
        heappop = heapq.heappop
        while True:
            while sequenced:
                deadline, _, _, future = sequenced[0]
                if future.done():  # cancelled while it slept
                    heappop(sequenced)
                elif deadline <= now:
                    heappop(sequenced)
                    future.set_result(None)
                    return
                else:
                    break
            if self._idle_waiters:
                waiters, self._idle_waiters = self._idle_waiters, []
                for future in waiters:
                    if not future.done():
                        future.set_result(None)
                return
            scheduled = self._scheduled
            if sequenced and (not scheduled or scheduled[0]._when > deadline):
                # A sequenced sleeper is next, before any timer (the lab's common case; a
                # task in sleep_forever holds a timer at infinity): jump to it with
                # MockClock's arithmetic (see _jump), then release it.
                while now < deadline:
                    now += deadline - now
                self._virtual_now = now
                continue
            jumped = self._jump(now)
            if jumped is None or self._ready:
                return  # blocked for a thread or I/O, or timers are due first
            now = jumped

    def _jump(self, now: float) -> float | None:
        """Nothing to do now: move the clock to the next timer or sequenced sleeper, and
        ready the timers due then; the new time (None: nothing was due, it waited in
        ``select`` for a thread or I/O)."""
        scheduled = self._scheduled
        sequenced = self._sequenced
        heappop = heapq.heappop
        while scheduled and scheduled[0]._cancelled:
            heappop(scheduled)._scheduled = False
            self._timer_cancelled_count -= 1
        while sequenced and sequenced[0][3].done():
            heappop(sequenced)
        when = math.inf
        if scheduled:
            when = scheduled[0]._when
        if sequenced and sequenced[0][0] < when:
            when = sequenced[0][0]
        if when == math.inf:
            # Nothing will ever happen in virtual time (a timer at infinity is a task in
            # sleep_forever, as on trio): wait for a thread or I/O, e.g. a store's database
            # thread, instead of ending every sleep_forever.
            self._process_events(self._selector.select(None))
            return None
        # Jump exactly as trio's MockClock does (base += deadline - base), so the two
        # virtual clocks agree to the last bit.
        while now < when:
            now += when - now
        self._virtual_now = now
        if scheduled:
            self._ready_due(now)
        return now

    def _ready_due(self, now: float) -> None:
        """Move the timers due at ``now`` to the ready queue (cancelled ones are dropped)."""
        scheduled = self._scheduled
        ready = self._ready
        heappop = heapq.heappop
        while scheduled and scheduled[0]._when <= now:
            handle = heappop(scheduled)
            handle._scheduled = False
            if handle._cancelled:
                self._timer_cancelled_count -= 1
            else:
                ready.append(handle)


def is_virtual() -> bool:
    """True when the running event loop keeps virtual time (either backend)."""
    library = sniffio.current_async_library()
    if library == "trio":
        import trio
        import trio.testing

        clock = trio.lowlevel.current_clock()
        return isinstance(clock, trio.testing.MockClock) and clock.rate == 0
    return isinstance(asyncio.get_running_loop(), VirtualEventLoop)
