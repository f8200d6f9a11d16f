"""Retries with backoff, per-job timeouts and cancellation, on virtual time.

The timing checks run on trio's MockClock (autojump): ``anyio.sleep`` advances instantly and
exactly, so attempt start times can be asserted to the second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

from jobsim import InMemoryJobStore, Job, JobStatus, RetryPolicy, WorkerPool


def run_virtual(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``fn`` on trio with a virtual clock that jumps whenever every task is blocked."""
    return anyio.run(fn, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)})


def flaky(failures: int, starts: list[float]) -> Callable[[Job], Awaitable[str]]:
    """A handler that sleeps 1 s and fails its first ``failures`` attempts."""

    async def handler(job: Job) -> str:
        starts.append(anyio.current_time())
        await anyio.sleep(1.0)
        if job.attempts <= failures:
            raise ConnectionError(f"attempt {job.attempts} lost the connection")
        return "ok"

    return handler


def test_retry_backoff_starts_attempts_at_0_2_5() -> None:
    starts: list[float] = []

    async def main() -> Job:
        store = InMemoryJobStore()
        policy = RetryPolicy(base=1.0, factor=2.0, jitter=False)
        async with WorkerPool(store, flaky(2, starts), workers=1, retry=policy) as pool:
            t0 = anyio.current_time()
            job = await pool.submit(Job(max_attempts=3))
            while not (await store.get(job.id)).is_final:
                await anyio.sleep(0.5)
        starts[:] = [s - t0 for s in starts]
        return await store.get(job.id)

    job = run_virtual(main)
    assert starts == [0.0, 2.0, 5.0]
    assert job.status is JobStatus.COMPLETED and job.attempts == 3 and job.result == "ok"


def test_last_attempt_failure_is_dead_lettered_with_the_error() -> None:
    starts: list[float] = []

    async def main() -> tuple[Job, list[Job]]:
        store = InMemoryJobStore()
        policy = RetryPolicy(base=1.0, factor=2.0, jitter=False)
        async with WorkerPool(store, flaky(2, starts), workers=1, retry=policy) as pool:
            job = await pool.submit(Job(max_attempts=2))
            while not (await store.get(job.id)).is_final:
                await anyio.sleep(0.5)
        return await store.get(job.id), await store.list(status="failed")

    job, dead = run_virtual(main)
    assert job.status is JobStatus.FAILED and job.attempts == 2
    assert job.error == "ConnectionError: attempt 2 lost the connection"
    assert [d.id for d in dead] == [job.id]


def test_full_jitter_is_seeded_and_bounded() -> None:
    a = [RetryPolicy(base=1, factor=2, seed=7).delay(k) for k in range(1, 8)]
    b = [RetryPolicy(base=1, factor=2, seed=7).delay(k) for k in range(1, 8)]
    assert a == b
    assert all(0 <= d <= min(60.0, 2 ** (k - 1)) for k, d in enumerate(a, start=1))
    assert RetryPolicy(base=1, factor=2, max_delay=5, jitter=False).delay(10) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": -1}, "base"),
        ({"factor": 0.5}, "factor"),
        ({"max_delay": float("inf")}, "max_delay"),
    ],
)
def test_bad_retry_policy_is_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_a_job_waiting_for_its_retry_does_not_hold_up_shutdown() -> None:
    async def main() -> tuple[float, Job, Any]:
        store = InMemoryJobStore()
        policy = RetryPolicy(base=100.0, jitter=False)
        async with WorkerPool(store, flaky(1, []), workers=1, retry=policy) as pool:
            job = await pool.submit(Job(max_attempts=3))
            await anyio.sleep(1.5)  # first attempt failed at t=1; retry due at t=101
            t0 = anyio.current_time()
            report = await pool.shutdown()
            took = anyio.current_time() - t0
        return took, await store.get(job.id), report

    took, job, report = run_virtual(main)
    assert took < 1.0
    assert job.status is JobStatus.PENDING and job.attempts == 1
    assert report.pending == 1 and report.retried == 1


def test_timeout_fails_the_attempt_with_a_message() -> None:
    async def main() -> Job:
        store = InMemoryJobStore()

        async def slow(job: Job) -> None:
            await anyio.sleep(10)

        async with WorkerPool(store, slow, workers=1) as pool:
            job = await pool.submit(Job(timeout=2.5))
        return await store.get(job.id)

    job = run_virtual(main)
    assert job.status is JobStatus.FAILED
    assert job.error == "TimeoutError: attempt 1 timed out after 2.5 s"


def test_pool_default_timeout_applies_and_job_timeout_wins() -> None:
    async def main() -> tuple[Job, Job]:
        store = InMemoryJobStore()

        async def three_seconds(job: Job) -> str:
            await anyio.sleep(3)
            return "done"

        async with WorkerPool(store, three_seconds, workers=2, job_timeout=1.0) as pool:
            short = await pool.submit(Job())
            long = await pool.submit(Job(timeout=5.0))
        return await store.get(short.id), await store.get(long.id)

    short, long = run_virtual(main)
    assert short.status is JobStatus.FAILED and "timed out after 1 s" in (short.error or "")
    assert long.status is JobStatus.COMPLETED


@pytest.mark.anyio
async def test_cancel_a_pending_job() -> None:
    store = InMemoryJobStore()
    gate = anyio.Event()

    async def handler(job: Job) -> None:
        await gate.wait()

    async with WorkerPool(store, handler, workers=1) as pool:
        first = await pool.submit(Job())
        second = await pool.submit(Job())
        await anyio.sleep(0.01)
        assert await pool.cancel(second.id) is True
        gate.set()
    assert (await store.get(first.id)).status is JobStatus.COMPLETED
    assert (await store.get(second.id)).status is JobStatus.CANCELLED
    assert await store.get(second.id) is second  # skipped by the worker: never claimed
    assert second.attempts == 0


@pytest.mark.anyio
async def test_cancel_a_running_job_cooperatively() -> None:
    store = InMemoryJobStore()
    entered = anyio.Event()
    cleaned_up: list[str] = []

    async def handler(job: Job) -> None:
        if job.payload.get("quick"):
            return
        entered.set()
        try:
            await anyio.sleep(60)
        finally:
            cleaned_up.append(job.id)

    async with WorkerPool(store, handler, workers=1) as pool:
        job = await pool.submit(Job())
        await entered.wait()
        with anyio.fail_after(5):
            assert await pool.cancel(job.id) is True
        follow_up = await pool.submit(Job(payload={"quick": True}))  # the worker carries on
        report = await pool.shutdown(timeout=5)
    assert cleaned_up == [job.id]
    cancelled = await store.get(job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.error is None
    assert (await store.get(follow_up.id)).status is JobStatus.COMPLETED
    assert report.cancelled == 1 and report.failed == 0 and report.completed == 1


@pytest.mark.anyio
async def test_cancel_a_finished_job_returns_false() -> None:
    store = InMemoryJobStore()

    async def handler(job: Job) -> str:
        return "ok"

    async with WorkerPool(store, handler, workers=1) as pool:
        job = await pool.submit(Job())
    assert (await store.get(job.id)).status is JobStatus.COMPLETED
    async with WorkerPool(store, handler, workers=1) as pool:
        assert await pool.cancel(job.id) is False
