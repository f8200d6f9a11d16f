"""Virtual time for asyncio and trio, and the real clock.

The lab runs the *same* :class:`~jobsim.pool.WorkerPool` code in virtual time: ``anyio.sleep``
returns at once, and the clock jumps to the next timer whenever every task is blocked.

* **trio**: :class:`trio.testing.MockClock` with ``autojump_threshold=0``.
* **asyncio**: :class:`VirtualEventLoop`, a selector event loop whose ``time()`` is virtual. Its
  ``_run_once`` is lean: a heap of timers, no ``select`` syscall while work is ready, no real
  sleeping. When nothing is ready it jumps the clock with the *same* float arithmetic as
  MockClock (``now += deadline - now``), so both backends see bit-identical times.

Virtual time alone is not deterministic: when several tasks wake at the same instant, trio
deliberately shuffles them and asyncio runs them in heap order. :class:`Sequencer` fixes that
for the lab: sleepers that wake at the same instant resume one at a time in the order of a key
the caller chooses (a job's index, a worker's index), each running until it blocks again
(:func:`wait_idle`) before the next goes. With no tie (the usual case for continuous
distributions) a sleep costs one dictionary update more than a plain sleep.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import heapq
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeVar

import anyio
import sniffio

from jobsim.domain import JobsimError

__all__ = [
    "BACKENDS",
    "CLOCKS",
    "LOOPS",
    "Backend",
    "ClockKind",
    "LoopKind",
    "Sequencer",
    "VirtualEventLoop",
    "VirtualTimeError",
    "check_backend",
    "check_clock",
    "check_loop",
    "in_event_loop",
    "is_virtual",
    "loop_clock",
    "native_sleep",
    "run",
    "wait_idle",
]

T = TypeVar("T")

Backend = Literal["asyncio", "trio"]
ClockKind = Literal["virtual", "real"]
LoopKind = Literal["asyncio", "uvloop"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")
CLOCKS: tuple[ClockKind, ...] = ("virtual", "real")
#: Event loops for the asyncio backend in real time: asyncio's own, or uvloop (libuv).
LOOPS: tuple[LoopKind, ...] = ("asyncio", "uvloop")

# Poll the selector (threads' wake-ups, real I/O) every this many loop iterations while there
# is always work ready; call_soon_threadsafe callbacks run without it, this only drains the pipe.
_POLL_EVERY = 1024


class VirtualTimeError(JobsimError, ValueError):
    """Something that needs real time (CPU-bound work, a wall-clock deadline) met the virtual
    clock."""


def check_backend(backend: str) -> Backend:
    """Return ``backend`` if it is one jobsim runs on, else raise a ``ValueError`` naming both."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    return backend


def check_clock(clock: str) -> ClockKind:
    """Return ``clock`` if it is ``"virtual"`` or ``"real"``, else raise a ``ValueError``."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}; got {clock!r}")
    return clock


def check_loop(loop: str, backend: str = "asyncio", clock: str = "real") -> LoopKind:
    """Return ``loop`` if it can run with ``backend`` and ``clock``, else raise a clear error.

    ``"uvloop"`` is the asyncio backend's loop in real time only (virtual time has a loop of
    its own, trio has no loop to swap) and needs the ``uvloop`` extra installed.
    """
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}; got {loop!r}")
    if loop == "uvloop":
        if backend != "asyncio":
            raise ValueError(f"loop='uvloop' runs on the asyncio backend only; got {backend!r}")
        if clock != "real":
            raise VirtualTimeError(
                "loop='uvloop' runs in real time only (virtual time has its own event loop); "
                "use clock='real'"
            )
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise ValueError(
                "loop='uvloop' needs uvloop installed: pip install 'jobsim[uvloop]'"
            ) from None
    return loop


def backend_options(backend: str, clock: str, loop: str = "asyncio") -> dict[str, Any]:
    """``anyio.run``'s ``backend_options`` for this backend, clock and loop."""
    check_loop(loop, backend, clock)
    options: dict[str, Any] = {}
    if clock == "virtual":
        if backend == "trio":
            import trio.testing

            options["clock"] = trio.testing.MockClock(autojump_threshold=0)
        else:
            options["loop_factory"] = VirtualEventLoop
    elif loop == "uvloop":
        options["use_uvloop"] = True
    return options


class _Handle(asyncio.Handle):
    """A :class:`asyncio.Handle` without the debug-mode bookkeeping (the loop never runs in
    debug mode's slow path; ``loop.set_debug(True)`` falls back to asyncio's own handles)."""

    __slots__ = ()

    def __init__(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
    ) -> None:
        self._callback = callback
        self._args = args
        self._loop = loop
        self._context = context
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual clock that jumps to the next timer when idle.

    Everything asyncio offers keeps working (threads' ``call_soon_threadsafe``, executors,
    sockets); only time is virtual. ``loop.time()`` starts at 0.0. While callbacks are ready
    the loop never calls ``select``. When nothing is ready and no timer is due it, in order:
    releases the next *sequenced* sleeper due now (:meth:`sleep_sequenced`, one at a time),
    wakes the :meth:`wait_idle` waiters, or jumps the clock to the earliest timer. With no
    timer at all it blocks in ``select`` (a thread or a socket may still wake it).
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
        self._iterations = 0

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
        handle = _Handle(
            callback, args, self, contextvars.copy_context() if context is None else context
        )
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
        future: asyncio.Future[None] = self.create_future()
        self._sequence += 1
        heapq.heappush(
            self._sequenced, (self._virtual_now + max(delay, 0.0), key, self._sequence, future)
        )
        return future

    def _run_once(self) -> None:
        ready = self._ready
        scheduled = self._scheduled
        heappop = heapq.heappop
        now = self._virtual_now
        if scheduled and self._timer_cancelled_count > 64 + (len(scheduled) >> 1):
            # Many cancelled timers (e.g. cancelled timeouts): rebuild the heap without them.
            live = []
            for handle in scheduled:
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    live.append(handle)
            heapq.heapify(live)
            self._scheduled = scheduled = live
            self._timer_cancelled_count = 0
        if scheduled and scheduled[0]._when <= now:
            self._ready_due(now)
        if not ready and not self._stopping:
            sequenced = self._sequenced
            while sequenced and sequenced[0][0] <= now:
                future = heappop(sequenced)[3]
                if not future.done():
                    future.set_result(None)  # one sleeper per idle moment: ties in key order
                    break
            else:
                if self._idle_waiters:
                    waiters, self._idle_waiters = self._idle_waiters, []
                    for future in waiters:
                        if not future.done():
                            future.set_result(None)
                else:
                    self._jump(now)
        if self._debug:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            return
        # Run what is ready, then what that made ready, until nothing is: virtual time cannot
        # move meanwhile, so this only saves loop iterations (the order stays FIFO).
        popleft = ready.popleft
        while ready:
            self._iterations += 1
            if self._iterations % _POLL_EVERY == 0:
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
                break

    def _jump(self, now: float) -> None:
        """Nothing to do now: move the clock to the next timer or sequenced sleeper."""
        scheduled = self._scheduled
        sequenced = self._sequenced
        heappop = heapq.heappop
        while scheduled and scheduled[0]._cancelled:
            heappop(scheduled)._scheduled = False
            self._timer_cancelled_count -= 1
        while sequenced and sequenced[0][3].done():
            heappop(sequenced)
        if scheduled and sequenced:
            when = min(scheduled[0]._when, sequenced[0][0])
        elif scheduled:
            when = scheduled[0]._when
        elif sequenced:
            when = sequenced[0][0]
        else:
            # Nothing will ever happen in virtual time: wait for a thread or I/O.
            self._process_events(self._selector.select(None))
            return
        # Jump exactly as trio's MockClock does (base += deadline - base), so the two
        # virtual clocks agree to the last bit.
        while now < when:
            now += when - now
        self._virtual_now = now
        self._ready_due(now)

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


async def wait_idle() -> None:
    """Return once every other task is blocked, before the virtual clock moves.

    On trio this is :func:`trio.testing.wait_all_tasks_blocked`; on asyncio it needs the
    :class:`VirtualEventLoop` (anyio's generic version polls with a 0.1 s sleep, which would
    move virtual time).
    """
    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualEventLoop):
        raise VirtualTimeError(
            "wait_idle() needs jobsim's VirtualEventLoop on asyncio (clock='virtual'); "
            f"the running loop is {type(loop).__name__}"
        )
    await loop.wait_idle()


def loop_clock() -> Callable[[], float]:
    """The running event loop's clock (virtual under a virtual-time loop or trio's MockClock)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.current_time
    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic  # what BaseEventLoop.time returns, minus a Python-level call
    return loop.time


def native_sleep() -> Callable[[float], Awaitable[None]]:
    """The running backend's own sleep (``asyncio.sleep`` or ``trio.sleep``).

    Same semantics as ``anyio.sleep`` without its per-call backend lookup; the lab's hot path
    calls it once per job.
    """
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.sleep
    return asyncio.sleep


class Sequencer:
    """Deterministic order for sleepers that wake at the same virtual instant.

    ``await seq.sleep(delay, key)`` sleeps like ``anyio.sleep``. If other sequenced sleepers
    are due at the very same instant, they resume one by one in ascending ``key`` order, and
    each runs until everything is blocked again before the next resumes. That makes a run
    independent of the backend's scheduling order (trio shuffles on purpose), so asyncio and
    trio produce the same records. Keys must be mutually comparable (e.g. tuples of ints).

    On the :class:`VirtualEventLoop` the loop does this itself (:meth:`~VirtualEventLoop.
    sleep_sequenced`, no extra cost); on trio an arbiter task does it. Start :meth:`run` in a
    task group (``tg.start_soon(seq.run)``) and cancel it at the end. Virtual time only: in
    real time two timers never tie exactly.
    """

    def __init__(self) -> None:
        self._due: dict[float, int] = {}
        self._heap: list[tuple[Any, int, anyio.Event]] = []
        self._count = 0
        self._wake: anyio.Event | None = None
        self._active = False
        self._sleep: Callable[[float, Any], Awaitable[None]] | None = None

    def bind(self) -> Callable[[float, Any], Awaitable[None]]:
        """The sequenced sleep for the running loop: ``await sleep(delay, key)``."""
        if self._sleep is None:
            if sniffio.current_async_library() == "trio":
                if not is_virtual():
                    raise VirtualTimeError("Sequencer needs trio's MockClock (virtual time)")
                self._wake = anyio.Event()
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
        """The arbiter (trio): releases tied sleepers in key order. Runs until cancelled."""
        self.bind()
        if self._wake is None:
            await anyio.sleep_forever()  # the VirtualEventLoop arbitrates by itself
        heap = self._heap
        while True:
            assert self._wake is not None
            await self._wake.wait()
            self._wake = anyio.Event()
            await wait_idle()  # every sleeper due now has woken and queued up
            while heap:
                heapq.heappop(heap)[2].set()
                await wait_idle()  # it ran until it blocked again
            self._active = False

    async def _trio_sleep(self, delay: float, key: Any) -> None:
        import trio

        due = self._due
        delay = max(delay, 0.0)
        if delay == 0:
            # Due now: trio.sleep(0) is a bare checkpoint, but like every sequenced sleeper
            # this one must wait until everything else is blocked, then go in key order
            # (as on the VirtualEventLoop). Otherwise, e.g., a worker back from a zero-length
            # job takes the next id before the workers still starting up have queued.
            await self._take_turn(key)
            return
        deadline = trio.current_time() + delay  # the same sum trio.sleep computes
        due[deadline] = due.get(deadline, 0) + 1
        try:
            await trio.sleep(delay)
        finally:
            left = due[deadline] - 1
            if left:
                due[deadline] = left
            else:
                del due[deadline]
        if deadline not in due and not self._active:
            return  # nobody else wakes at this instant: no tie to break
        await self._take_turn(key)

    async def _take_turn(self, key: Any) -> None:
        """Queue for the arbiter (trio): resume once it is ``key``'s turn."""
        self._count += 1
        turn = anyio.Event()
        heapq.heappush(self._heap, (key, self._count, turn))
        if not self._active:
            self._active = True
            assert self._wake is not None
            self._wake.set()
        await turn.wait()


def run(
    func: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    backend: str = "asyncio",
    clock: str = "virtual",
    loop: str = "asyncio",
) -> T:
    """Run ``await func(*args)`` on a fresh event loop of ``backend`` with ``clock``.

    Virtual: asyncio on a :class:`VirtualEventLoop`, trio with ``MockClock(autojump_threshold=0)``;
    both start at t = 0. Real: the backend's ordinary loop, or uvloop (``loop="uvloop"``).

    Safe to call while this thread already runs an event loop (a Jupyter cell, a trio or
    asyncio program): the fresh loop then runs in a helper thread, and this call blocks until
    it is done. The lab's synchronous entry points (:func:`jobsim.simulate`, the demos) all
    come through here.
    """
    backend = check_backend(backend)
    clock = check_clock(clock)
    options = backend_options(backend, clock, loop)
    fresh = functools.partial(anyio.run, func, *args, backend=backend, backend_options=options)
    if not in_event_loop():
        return fresh()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jobsim-run") as helper:
        return helper.submit(fresh).result()


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (asyncio, trio, or any sniffio knows)."""
    try:
        asyncio.get_running_loop()  # also outside a task, e.g. in a loop callback
        return True
    except RuntimeError:
        pass
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True
