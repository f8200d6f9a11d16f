"""Virtual time: exact and instant, identical on asyncio and trio, ties broken by key."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import anyio
import pytest

from jobsim import clock as clocks
from jobsim.clock import Sequencer, VirtualEventLoop, VirtualTimeError

BACKENDS = ["asyncio", "trio"]


def test_virtual_loop_sleeps_exactly_and_instantly() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen = [loop.time()]
        await asyncio.sleep(3600.0)
        seen.append(loop.time())
        fired: list[float] = []
        loop.call_later(2.0, lambda: fired.append(loop.time()))
        loop.call_later(1.0, lambda: fired.append(loop.time()))
        await asyncio.sleep(5.0)
        return seen + fired + [loop.time()]

    start = time.perf_counter()
    times = asyncio.Runner(loop_factory=VirtualEventLoop).run(main())
    assert times == [0.0, 3600.0, 3601.0, 3602.0, 3605.0]
    assert time.perf_counter() - start < 60  # an hour of virtual time did not take an hour


def test_virtual_loop_still_serves_threads() -> None:
    """No timer pending: the loop blocks in select until the thread's result arrives."""

    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        return result, loop.time()

    name, now = asyncio.Runner(loop_factory=VirtualEventLoop).run(main())
    assert name != threading.current_thread().name
    assert now == 0.0  # real work in a thread takes no virtual time


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_starts_at_zero_and_is_virtual(backend: str) -> None:
    async def main() -> tuple[float, float, bool]:
        start = anyio.current_time()
        await anyio.sleep(100.0)
        return start, anyio.current_time(), clocks.is_virtual()

    assert clocks.run(main, backend=backend) == (0.0, 100.0, True)


def test_both_virtual_clocks_agree_to_the_bit() -> None:
    """Floating-point sums drift; both clocks must drift identically."""
    delays = [random.Random(5).expovariate(3.0) for _ in range(2000)]

    async def main() -> list[float]:
        seen = []
        for delay in delays:
            await anyio.sleep(delay)
            seen.append(anyio.current_time())
        return seen

    asyncio_times = clocks.run(main, backend="asyncio")
    trio_times = clocks.run(main, backend="trio")
    assert asyncio_times == trio_times
    assert asyncio_times[-1] == pytest.approx(sum(delays))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequencer_resumes_ties_in_key_order(backend: str) -> None:
    """Twelve sleepers due at the same instants resume in key order each time, and each
    runs until it blocks before the next one starts."""
    keys = list(range(12))
    random.Random(1).shuffle(keys)

    async def main() -> list[tuple[float, str, int]]:
        seq = Sequencer()
        log: list[tuple[float, str, int]] = []

        async def sleeper(key: int) -> None:
            for _ in range(3):
                await seq.sleep(1.0, key)
                log.append((anyio.current_time(), "resumed", key))
                await anyio.lowlevel.checkpoint()  # yields, but does not block
                log.append((anyio.current_time(), "blocked", key))

        async with anyio.create_task_group() as tg:
            tg.start_soon(seq.run)
            async with anyio.create_task_group() as sleepers:
                for key in keys:
                    sleepers.start_soon(sleeper, key)
            tg.cancel_scope.cancel()
        return log

    log = clocks.run(main, backend=backend)
    expected = [
        (float(t), what, key)
        for t in (1, 2, 3)
        for key in range(12)
        for what in ("resumed", "blocked")
    ]
    assert log == expected


def test_a_sequenced_sleep_wakes_every_waiter_and_yields_to_a_cancel() -> None:
    """The loop hands a released sleeper's one waiter straight to its task; a second waiter
    still hears of it (in the order they came), and a cancelled sleep never moves the clock."""

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        seen: list[tuple[str, float]] = []
        future = loop.sleep_sequenced(1.0, (0, 0))
        future.add_done_callback(lambda _: seen.append(("callback", loop.time())))
        await future
        seen.append(("awaited", loop.time()))

        async def sleeper() -> None:
            await loop.sleep_sequenced(10.0, (0, 1))
            seen.append(("woke", loop.time()))  # never: cancelled first

        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen.append(("cancelled", loop.time()))
        await loop.sleep_sequenced(0.5, (0, 2))
        seen.append(("after", loop.time()))
        return seen

    seen = asyncio.Runner(loop_factory=VirtualEventLoop).run(main())
    assert seen == [("callback", 1.0), ("awaited", 1.0), ("cancelled", 3.0), ("after", 3.5)]


def test_wait_idle_needs_a_virtual_loop() -> None:
    async def main() -> None:
        await clocks.wait_idle()

    with pytest.raises(VirtualTimeError, match="VirtualEventLoop"):
        asyncio.run(main())


def test_sequencer_refuses_real_time() -> None:
    async def main() -> None:
        await Sequencer().sleep(0.0, 0)

    with pytest.raises(VirtualTimeError, match="virtual time"):
        anyio.run(main, backend="trio")


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="asyncio, trio"):
        clocks.check_backend("curio")
    with pytest.raises(ValueError, match="virtual, real"):
        clocks.check_clock("fast")


def test_real_clock_runs_on_uvloop_when_asked() -> None:
    import uvloop

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(clocks.run(loop_type, clock="real", loop="uvloop"), uvloop.Loop)
    assert not issubclass(clocks.run(loop_type, clock="real"), uvloop.Loop)


def test_uvloop_refuses_trio_and_virtual_time_naming_why() -> None:
    with pytest.raises(ValueError, match="asyncio backend only; got 'trio'"):
        clocks.check_loop("uvloop", "trio", "real")
    with pytest.raises(VirtualTimeError, match="real time only"):
        clocks.check_loop("uvloop", "asyncio", "virtual")
    with pytest.raises(ValueError, match="loop must be one of asyncio, uvloop; got 'tokio'"):
        clocks.check_loop("tokio")


def test_simulate_real_clock_on_uvloop() -> None:
    from jobsim import Batch, Constant, Workload, simulate

    workload = Workload(20, Batch(), Constant(0.01))
    result = simulate(workload, workers=10, clock="real", loop="uvloop")
    assert result.settings["loop"] == "uvloop" and result.summary["completed"] == 20
    assert simulate(workload, workers=10, clock="real").settings["loop"] == "asyncio"
    with pytest.raises(VirtualTimeError, match="uvloop"):
        simulate(workload, loop="uvloop")  # virtual time
    with pytest.raises(ValueError, match="asyncio backend only"):
        simulate(workload, clock="real", backend="trio", loop="uvloop")
