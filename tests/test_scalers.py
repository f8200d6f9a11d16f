"""Scaling policies on the pool's clock: Schedule and Autoscaler, in virtual time."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from jobsim import Autoscaler, InMemoryJobStore, Job, JobStatus, Schedule, WorkerPool
from jobsim import clock as clocks
from jobsim.events import TraceEvent

BACKENDS = ["asyncio", "trio"]


async def sleep_job(job: Job) -> None:
    await anyio.sleep(job.payload["duration"])


def live_workers_over_time(events: list[tuple[TraceEvent, float]]) -> list[tuple[float, int]]:
    live, series = 0, []
    for event, at in events:
        live += 1 if event is TraceEvent.WORKER_STARTED else -1
        series.append((at, live))
    return series


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_sets_the_worker_count_over_time(backend: str) -> None:
    async def main() -> list[tuple[float, int]]:
        seen: list[tuple[float, int]] = []
        schedule = Schedule([(0, 2), (10, 5), (20, 1)])
        async with WorkerPool(InMemoryJobStore(), sleep_job, workers=3, scaler=schedule) as pool:
            for t in (1, 11, 21):
                await anyio.sleep(t - pool.now())
                seen.append((pool.now(), pool.workers))
        return seen

    assert clocks.run(main, backend=backend, clock="virtual") == [(1, 2), (11, 5), (21, 1)]


def test_schedule_refuses_bad_steps() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Schedule([])
    with pytest.raises(ValueError, match="must increase"):
        Schedule([(0, 1), (0, 2)])
    with pytest.raises(ValueError, match="Schedule workers must be an integer >= 1"):
        Schedule([(0, 0)])
    with pytest.raises(ValueError, match="Schedule time must be a finite number >= 0"):
        Schedule([(-1, 2)])
    with pytest.raises(TypeError, match="scaler must have 'async def run"):
        WorkerPool(InMemoryJobStore(), sleep_job, scaler=5)  # type: ignore[arg-type]


def test_autoscaler_refuses_bad_bounds() -> None:
    with pytest.raises(ValueError, match=r"Autoscaler\.max must be >= min"):
        Autoscaler(min=5, max=2)
    with pytest.raises(ValueError, match=r"Autoscaler\.target"):
        Autoscaler(target=0)
    with pytest.raises(ValueError, match=r"Autoscaler\.interval"):
        Autoscaler(interval=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_autoscaler_follows_a_burst_within_its_bounds(backend: str) -> None:
    """A burst of 40 x 1 s jobs at t=0 on a pool of 1, autoscaled within [1, 8]: it grows to
    8 at the first look, never past it, and shrinks back to 1 once the queue is gone."""

    async def main() -> tuple[list[tuple[float, int]], list[tuple[float, int]], float, int]:
        events: list[tuple[TraceEvent, float]] = []
        runs: Counter[str] = Counter()

        def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
            if event in (TraceEvent.WORKER_STARTED, TraceEvent.WORKER_STOPPED):
                events.append((event, at))
            elif event is TraceEvent.STARTED:
                runs[job_id] += 1

        scaler = Autoscaler(min=1, max=8, target=1.0, interval=0.5, down_cooldown=2.0)
        store = InMemoryJobStore()
        async with WorkerPool(
            store, sleep_job, workers=1, capacity=100, tracer=tracer, scaler=scaler
        ) as pool:
            for _ in range(40):
                await pool.submit(Job(payload={"duration": 1.0}))
            await anyio.sleep(15)
            final = pool.workers
            counts = await store.counts()
            assert counts[JobStatus.COMPLETED] == 40
        assert set(runs.values()) == {1}
        return scaler.history, live_workers_over_time(events), pool.now(), final

    history, live, _, final = clocks.run(main, backend=backend, clock="virtual")
    assert history[0] == (0.5, 8)  # 40 jobs waiting: as many workers as allowed
    assert max(n for _, n in history) == 8 and min(n for _, n in history) >= 1
    assert max(n for _, n in live) <= 8  # the bound holds for live workers too
    assert final == 1  # shrunk back once idle
    assert history[-1][1] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_autoscaler_startup_delays_new_workers(backend: str) -> None:
    """With startup=3, the workers decided at t=0.5 take work from t=3.5."""

    async def main() -> list[tuple[float, int]]:
        scaler = Autoscaler(min=1, max=4, interval=0.5, startup=3.0, down_cooldown=100)
        async with WorkerPool(InMemoryJobStore(), sleep_job, workers=1, scaler=scaler) as pool:
            for _ in range(20):
                await pool.submit(Job(payload={"duration": 1.0}))
            seen = []
            for t in (1.0, 3.0, 4.0):
                await anyio.sleep(t - pool.now())
                seen.append((pool.now(), pool.workers))
        return seen

    assert clocks.run(main, backend=backend, clock="virtual") == [(1.0, 1), (3.0, 1), (4.0, 4)]
