"""Virtual time for asyncio and trio, and the real clock: which loop a run gets.

The lab runs the *same* :class:`~jobsim.pool.WorkerPool` code in virtual time: ``anyio.sleep``
returns at once, and the clock jumps to the next timer whenever every task is blocked.

* **trio**: :class:`trio.testing.MockClock` with ``autojump_threshold=0``
  (:func:`~jobsim.sequencer.virtual_trio_clock`: one whose jumps a :class:`Sequencer` decides).
* **asyncio**: :class:`~jobsim.virtual_loop.VirtualEventLoop`, a selector event loop whose
  ``time()`` is virtual and which jumps with MockClock's own float arithmetic, so both
  backends see bit-identical times.
* **ties**: :class:`~jobsim.sequencer.Sequencer` resumes sleepers due at the same instant in
  a fixed order on both backends, so asyncio and trio give the same records.
* **real time**: the backend's own loop, or uvloop on asyncio (``loop="uvloop"``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeVar

import anyio
import sniffio

from jobsim.sequencer import Sequencer, trio_arbiter, virtual_trio_clock
from jobsim.virtual_loop import VirtualEventLoop, VirtualTimeError, is_virtual

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
    "virtual_trio_clock",
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
            options["clock"] = virtual_trio_clock()
        else:
            options["loop_factory"] = VirtualEventLoop
    elif loop == "uvloop":
        options["use_uvloop"] = True
    return options


async def wait_idle() -> None:
    """Return once every other task is blocked, before the virtual clock moves.

    On trio this is :func:`trio.testing.wait_all_tasks_blocked`, or, while a
    :class:`Sequencer` arbitrates, its turn after every sequenced sleeper due now (as on the
    :class:`VirtualEventLoop`); on asyncio it needs the :class:`VirtualEventLoop` (anyio's
    generic version polls with a 0.1 s sleep, which would move virtual time).
    """
    if sniffio.current_async_library() == "trio":
        import trio.testing

        arbiter = trio_arbiter().get(None)
        if arbiter is not None:
            await arbiter._park(arbiter._idlers)
        else:
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

        return trio.lowlevel.current_clock().current_time  # what trio.current_time calls
    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic  # what BaseEventLoop.time returns, minus a Python-level call
    if type(loop) is VirtualEventLoop:
        # What VirtualEventLoop.time returns, read in C (the pool asks some six times a job).
        return functools.partial(getattr, loop, "_virtual_now")
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
