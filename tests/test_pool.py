"""WorkerPool: fan-out, exactly-once claims, failures, shutdown order, no leaked tasks."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from jobsim import InMemoryJobStore, Job, JobStatus, PoolClosed, RacyStore, WorkerPool

pytestmark = pytest.mark.anyio


def make_counter() -> tuple[Counter[str], Any]:
    runs: Counter[str] = Counter()

    async def handler(job: Job) -> str:
        runs[job.id] += 1
        await anyio.lowlevel.checkpoint()
        return f"done {job.payload.get('n')}"

    return runs, handler


async def test_jobs_complete_with_results() -> None:
    store = InMemoryJobStore()
    runs, handler = make_counter()
    async with WorkerPool(store, handler, workers=4, capacity=8) as pool:
        jobs = [await pool.submit(Job(type="t", payload={"n": n})) for n in range(50)]
    assert pool.state == "closed"
    for job in jobs:
        stored = await store.get(job.id)
        assert stored.status is JobStatus.COMPLETED
        assert stored.result == f"done {job.payload['n']}"
        assert stored.attempts == 1
        assert stored.worker_id in pool.worker_ids
        assert stored.created is not None and stored.started is not None
        assert stored.finished is not None and stored.created <= stored.started <= stored.finished
    assert sum(runs.values()) == 50


async def test_every_job_delivered_twice_runs_exactly_once() -> None:
    """At scale: 10,000 jobs, each delivered a second time, 100 workers, capacity 100."""
    store = InMemoryJobStore()
    runs, handler = make_counter()
    async with WorkerPool(store, handler, workers=100, capacity=100) as pool:
        jobs = [await pool.submit(Job(type="t")) for _ in range(10_000)]
        for job in jobs:
            await pool.deliver(job.id)
        report = await pool.shutdown()
    assert len(runs) == 10_000 and set(runs.values()) == {1}
    assert report.completed == 10_000
    assert report.duplicates_skipped == 10_000
    assert (await store.counts())[JobStatus.COMPLETED] == 10_000


async def test_racy_store_runs_duplicates_through_the_same_pool() -> None:
    """Negative control: the same pool over a non-atomic claim runs jobs twice."""
    store = RacyStore()
    runs, handler = make_counter()
    async with WorkerPool(store, handler, workers=10, capacity=100) as pool:
        for _ in range(200):
            job = await pool.submit(Job(type="t"))
            await pool.deliver(job.id)  # the duplicate right behind the original
    assert sum(runs.values()) > 200
    assert max(runs.values()) == 2


async def test_fan_out_uses_every_worker() -> None:
    store = InMemoryJobStore()

    async def handler(job: Job) -> None:
        await anyio.sleep(0.01)

    async with WorkerPool(store, handler, workers=5, capacity=50) as pool:
        for _ in range(25):
            await pool.submit(Job())
    assert all(count > 0 for count in pool.processed.values())
    assert sum(pool.processed.values()) == 25


async def test_handler_exception_fails_the_job_and_the_pool_keeps_running() -> None:
    store = InMemoryJobStore()

    async def handler(job: Job) -> str:
        if job.payload["n"] % 2:
            raise RuntimeError(f"boom {job.payload['n']}")
        return "ok"

    async with WorkerPool(store, handler, workers=3) as pool:
        jobs = [await pool.submit(Job(payload={"n": n})) for n in range(10)]
        report = await pool.shutdown()
    assert report.completed == 5 and report.failed == 5
    failed = await store.get(jobs[1].id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "RuntimeError: boom 1"


async def test_worker_id_in_every_worker_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jobsim.worker")
    _, handler = make_counter()
    async with WorkerPool(InMemoryJobStore(), handler, workers=3, name="w") as pool:
        for _ in range(6):
            await pool.submit(Job())
    lines = [r.getMessage() for r in caplog.records if r.name == "jobsim.worker"]
    assert lines
    assert all(line.split(":")[0] in pool.worker_ids for line in lines)


async def test_submit_after_shutdown_raises_pool_closed() -> None:
    _, handler = make_counter()
    pool = WorkerPool(InMemoryJobStore(), handler, workers=2)
    with pytest.raises(PoolClosed, match="not started"):
        await pool.submit(Job())
    async with pool:
        await pool.shutdown()
        with pytest.raises(PoolClosed, match="closed"):
            await pool.submit(Job())
        with pytest.raises(PoolClosed):
            await pool.deliver("anything")


async def test_shutdown_twice_returns_the_same_report() -> None:
    _, handler = make_counter()
    async with WorkerPool(InMemoryJobStore(), handler, workers=2) as pool:
        await pool.submit(Job())
        first = await pool.shutdown()
        assert await pool.shutdown() is first


async def test_wrong_order_close_channel_first_raises_closed_resource_error() -> None:
    """Go's "send on closed channel", in Python: closing the stream before the producer has
    stopped makes the producer's next send raise."""
    send, receive = anyio.create_memory_object_stream[int](10)
    async with receive:
        send.send_nowait(1)
        await send.aclose()  # wrong: the producer is still producing
        with pytest.raises(anyio.ClosedResourceError):
            await send.send(2)


async def test_shutdown_with_producers_still_sending_never_raises_closed_resource() -> None:
    store = InMemoryJobStore()
    accepted: list[str] = []
    refused = 0

    async def handler(job: Job) -> None:
        await anyio.sleep(0.001)

    async def producer(pool: WorkerPool) -> None:
        nonlocal refused
        for _ in range(200):
            try:
                job = await pool.submit(Job())
            except PoolClosed:
                refused += 1
                return
            accepted.append(job.id)

    async with WorkerPool(store, handler, workers=4, capacity=4) as pool:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(producer, pool)
            await anyio.sleep(0.02)
            report = await pool.shutdown()
    assert refused > 0, "the producers should still have been sending at shutdown"
    assert report.completed == len(accepted)
    for job_id in accepted:
        assert (await store.get(job_id)).status is JobStatus.COMPLETED


async def test_drain_false_leaves_queued_jobs_pending() -> None:
    store = InMemoryJobStore()
    started = anyio.Event()

    async def handler(job: Job) -> None:
        started.set()
        await anyio.sleep(0.05)

    async with WorkerPool(store, handler, workers=2, capacity=50) as pool:
        jobs = [await pool.submit(Job()) for _ in range(20)]
        await started.wait()
        report = await pool.shutdown(drain=False)
    statuses = Counter([(await store.get(j.id)).status for j in jobs])
    assert statuses[JobStatus.PROCESSING] == 0
    assert statuses[JobStatus.COMPLETED] == report.completed == 2
    assert statuses[JobStatus.PENDING] == report.pending == 18
    assert not report.drained


async def test_drain_false_unblocks_producers_waiting_on_a_full_channel() -> None:
    store = InMemoryJobStore()
    gate = anyio.Event()

    async def handler(job: Job) -> None:
        await gate.wait()

    async with WorkerPool(store, handler, workers=1, capacity=1) as pool:
        async with anyio.create_task_group() as tg:
            for _ in range(5):  # 1 running, 1 queued, 3 blocked in submit
                tg.start_soon(pool.submit, Job())
            # Settled, not "10 ms later": on a loaded machine a real sleep can end before
            # the worker has claimed its job (trio then runs both in one batch, any order).
            await anyio.wait_all_tasks_blocked()
            assert pool.queue_depth == 1 and pool.busy == 1
            with anyio.fail_after(5):
                async with anyio.create_task_group() as stopper:
                    stopper.start_soon(pool.shutdown, False)
                    await anyio.wait_all_tasks_blocked()
                    gate.set()
    counts = await store.counts()
    assert counts[JobStatus.PROCESSING] == 0
    assert counts[JobStatus.COMPLETED] == 1
    assert counts[JobStatus.PENDING] == 4


async def test_timeout_puts_running_jobs_back_to_pending() -> None:
    store = InMemoryJobStore()

    async def handler(job: Job) -> None:
        await anyio.sleep(10)

    async with WorkerPool(store, handler, workers=3, capacity=10) as pool:
        jobs = [await pool.submit(Job()) for _ in range(5)]
        await anyio.sleep(0.01)
        report = await pool.shutdown(timeout=0.05)
    assert report.timed_out and not report.drained
    assert report.interrupted == 3
    assert report.pending == 5
    for job in jobs:
        assert (await store.get(job.id)).status is JobStatus.PENDING


async def test_error_in_block_leaves_nothing_processing() -> None:
    store = InMemoryJobStore()

    async def handler(job: Job) -> None:
        await anyio.sleep(10)

    with pytest.raises(ValueError, match="user code broke"):
        async with WorkerPool(store, handler, workers=2) as pool:
            for _ in range(4):
                await pool.submit(Job())
            await anyio.sleep(0.01)
            raise ValueError("user code broke")
    counts = await store.counts()
    assert counts[JobStatus.PROCESSING] == 0
    assert counts[JobStatus.PENDING] == 4


async def test_no_leaked_tasks(anyio_backend: str) -> None:
    def living() -> int:
        if anyio_backend == "trio":
            import trio

            return int(trio.lowlevel.current_statistics().tasks_living)
        import asyncio

        return len(asyncio.all_tasks())

    before = living()
    _, handler = make_counter()
    async with WorkerPool(InMemoryJobStore(), handler, workers=20) as pool:
        for _ in range(100):
            await pool.submit(Job())
        assert living() > before
    assert living() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"capacity": -1}, "capacity must be an integer >= 1"),
        ({"workers": 2.5}, "workers must be an integer >= 1"),
        ({"job_timeout": 0}, "job_timeout must be a positive number"),
    ],
)
async def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    _, handler = make_counter()
    with pytest.raises(ValueError, match=message):
        WorkerPool(InMemoryJobStore(), handler, **kwargs)


async def test_lease_needs_a_shared_store() -> None:
    _, handler = make_counter()
    with pytest.raises(TypeError, match="claim_next"):
        WorkerPool(InMemoryJobStore(), handler, lease=5.0)
