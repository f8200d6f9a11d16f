"""The dispatch policies on their own: order, aging, backpressure, wake-ups, closing,
discarding, and prefetch's per-worker buffers. asyncio and trio; the clock is a plain
counter, so aging is exact."""

from __future__ import annotations

import anyio
import pytest
from anyio import ClosedResourceError, EndOfStream, WouldBlock

from jobsim import Job
from jobsim.pool.prefetch import Prefetch, PrefetchDispatch
from jobsim.pool.priority import Priority, PriorityDispatch

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def jobs(*priorities: int) -> list[Job]:
    return [Job(type=f"j{i}", priority=p) for i, p in enumerate(priorities)]


def drain(dispatch: PriorityDispatch | PrefetchDispatch, worker: str = "w") -> list[str]:
    out = []
    while True:
        try:
            out.append(dispatch.get_nowait(worker).type)
        except (WouldBlock, EndOfStream):
            return out


async def test_highest_priority_first_and_fifo_within_one() -> None:
    queue = Priority().build(10, Clock())
    for job in jobs(0, 5, -1, 5, 0, 9):
        queue.put_nowait(job)
    assert queue.depth == 6
    assert drain(queue) == ["j5", "j1", "j3", "j0", "j4", "j2"]
    assert queue.depth == 0


async def test_aging_raises_a_waiting_job_by_one_per_period() -> None:
    clock = Clock()
    queue = Priority(aging=10.0).build(10, clock)
    (old_low,) = jobs(0)
    queue.put_nowait(old_low)  # waits from t = 0
    clock.now = 25.0
    fresh = jobs(2, 2)  # at t = 25: priority 2 beats 0 + floor(25 / 10) = 2? a tie: oldest wins
    for job in fresh:
        queue.put_nowait(job)
    assert queue.get_nowait("w") is old_low
    clock.now = 29.0
    queue.put_nowait(Job(type="late", priority=2))
    clock.now = 30.0  # fresh jobs waited 5 s: still 2; "late" waited 1 s: 2
    assert drain(queue) == ["j0", "j1", "late"]


async def test_without_aging_a_low_priority_job_waits_behind_every_higher_one() -> None:
    clock = Clock()
    queue = Priority().build(10, clock)
    queue.put_nowait(Job(type="low", priority=0))
    clock.now = 1e6
    queue.put_nowait(Job(type="high", priority=1))
    assert drain(queue) == ["high", "low"]


async def test_backpressure_and_a_waiting_worker_gets_an_arrival_at_once(
    anyio_backend: str,
) -> None:
    queue = Priority().build(2, Clock())
    low, mid, high = jobs(0, 1, 2)
    queue.put_nowait(low)
    queue.put_nowait(mid)
    with pytest.raises(WouldBlock):
        queue.put_nowait(high)
    entered = anyio.Event()

    async def producer() -> None:
        entered.set()
        await queue.put(high)  # waits for room

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer)
        await entered.wait()
        await anyio.wait_all_tasks_blocked()
        assert queue.depth == 2
        assert queue.get_nowait("w") is mid  # room: the producer's job moves in
    assert drain(queue) == ["j2", "j0"]
    got: list[Job | None] = []

    async def worker() -> None:
        got.append(await queue.get("w"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await anyio.wait_all_tasks_blocked()
        queue.put_nowait(low)  # straight to the waiting worker
        assert queue.depth == 0
    assert got == [low]


@pytest.mark.parametrize("policy", [Priority(), Priority(aging=1.0), Prefetch(2)])
async def test_wake_close_and_end_of_stream(anyio_backend: str, policy: object) -> None:
    queue = policy.build(4, Clock())  # type: ignore[attr-defined]
    results: list[object] = []

    async def worker(name: str) -> None:
        try:
            results.append(await queue.get(name))
        except EndOfStream:
            results.append("end")

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "a")
        tg.start_soon(worker, "b")
        await anyio.wait_all_tasks_blocked()
        assert queue.wake(1) == 1  # one woken without a job
        await anyio.wait_all_tasks_blocked()
        queue.close()  # the other sees the end
    assert sorted(results, key=str) == [None, "end"]
    with pytest.raises(ClosedResourceError):
        queue.put_nowait(Job())
    with pytest.raises(EndOfStream):
        queue.get_nowait("a")


@pytest.mark.parametrize("policy", [Priority(), Prefetch(1)])
async def test_after_close_queued_jobs_are_still_handed_out(policy: object) -> None:
    queue = policy.build(10, Clock())  # type: ignore[attr-defined]
    with pytest.raises(WouldBlock):
        queue.get_nowait("w")  # (prefetch: registers the worker)
    for job in jobs(1, 2, 3):
        queue.put_nowait(job)
    queue.close()
    assert sorted(drain(queue)) == ["j0", "j1", "j2"]
    with pytest.raises(EndOfStream):
        queue.get_nowait("w")


@pytest.mark.parametrize("policy", [Priority(), Prefetch(1)])
async def test_discard_drops_queued_jobs_and_lets_blocked_producers_through(
    anyio_backend: str, policy: object
) -> None:
    queue = policy.build(1, Clock())  # type: ignore[attr-defined]
    queue.put_nowait(Job())
    returned = anyio.Event()

    async def producer() -> None:
        await queue.put(Job())
        returned.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer)
        await anyio.wait_all_tasks_blocked()
        assert queue.discard_queued() == 2
    assert returned.is_set() and queue.depth == 0


async def test_prefetch_assigns_round_robin_and_blocks_the_head_of_the_line() -> None:
    queue = Prefetch(2).build(3, Clock())
    for worker in ("a", "b"):
        with pytest.raises(WouldBlock):
            queue.get_nowait(worker)
    for job in jobs(0, 0, 0, 0, 0, 0, 0):
        queue.put_nowait(job)
    # a: j0 j2, b: j1 j3 (buffers of 2), then j4 j5 j6 in the shared overflow
    assert queue.buffered() == {"a": 2, "b": 2} and queue.depth == 7
    with pytest.raises(WouldBlock):
        queue.put_nowait(Job())
    assert drain(queue, "b") == ["j1", "j3", "j4", "j5", "j6"]  # b refills from the overflow
    assert drain(queue, "a") == ["j0", "j2"]  # a's own jobs waited for a alone


def test_bad_policies_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"Prefetch\(k\): k must be an integer >= 1, got 0"):
        Prefetch(0)
    with pytest.raises(ValueError, match=r"Priority.aging must be a positive, finite .* got -1"):
        Priority(aging=-1)
