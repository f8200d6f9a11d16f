"""Who runs next in the real pool: priority dispatch (and aging), prefetch buffers, limits
per job type, ttl expiry; the shutdown semantics hold for each. Virtual time where timing
matters (exact), asyncio and trio."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from jobsim import (
    Concurrency,
    InMemoryJobStore,
    Job,
    JobStatus,
    Prefetch,
    Priority,
    RateLimit,
    WorkerPool,
)
from jobsim.clock import run

DISPATCHES = ["fifo", "priority", Priority(aging=0.5), Prefetch(1), Prefetch(4)]


def virtual(main: Any, backend: str = "asyncio") -> Any:
    return run(main, backend=backend, clock="virtual")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_priority_runs_the_most_urgent_waiting_job_next(backend: str) -> None:
    order: list[str] = []

    async def handler(job: Job) -> None:
        order.append(job.type)
        await anyio.sleep(1.0)

    async def main() -> None:
        async with WorkerPool(
            InMemoryJobStore(), handler, workers=1, capacity=10, dispatch="priority"
        ) as pool:
            await pool.submit(Job(type="first"))
            await anyio.sleep(0.5)  # the worker is busy with "first"
            for name, priority in [("a", 0), ("b", 5), ("c", 1), ("d", 5), ("e", 9)]:
                await pool.submit(Job(type=name, priority=priority))

    virtual(main, backend)
    assert order == ["first", "e", "b", "d", "c", "a"]


def test_fifo_ignores_priorities() -> None:
    order: list[str] = []

    async def handler(job: Job) -> None:
        order.append(job.type)
        await anyio.sleep(1.0)

    async def main() -> None:
        async with WorkerPool(InMemoryJobStore(), handler, workers=1, capacity=10) as pool:
            for name, priority in [("a", 0), ("b", 5), ("c", 9)]:
                await pool.submit(Job(type=name, priority=priority))

    virtual(main)
    assert order == ["a", "b", "c"]


@pytest.mark.parametrize(("aging", "low_position"), [(None, 10), (2.5, 3)])
def test_aging_lets_a_starving_job_through(aging: float | None, low_position: int) -> None:
    """One worker, one low job at t=0 and a new high job every second (each takes 1 s): without
    aging the low job runs last; with aging=2.5 it reaches priority 1 + ... and overtakes."""
    order: list[str] = []

    async def handler(job: Job) -> None:
        order.append(job.type)
        await anyio.sleep(1.0)

    async def main() -> None:
        dispatch = Priority(aging=aging)
        async with WorkerPool(
            InMemoryJobStore(), handler, workers=1, capacity=100, dispatch=dispatch
        ) as pool:
            await pool.submit(Job(type="busy", priority=1))
            await pool.submit(Job(type="low", priority=0))
            for n in range(9):
                await pool.submit(Job(type=f"high{n}", priority=1))
                await anyio.sleep(1.0)

    virtual(main)
    assert order.index("low") == low_position, order


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_prefetch_shows_head_of_line_blocking(backend: str) -> None:
    """Two workers. A long job lands on worker 1, then short jobs alternate between the
    buffers: with Prefetch(1) a short job waits behind the long one although worker 2 is free;
    the shared channel hands every short job to the free worker."""

    async def handler(job: Job) -> None:
        await anyio.sleep(job.payload["s"])

    def waits(dispatch: object) -> list[float]:
        async def main() -> list[float]:
            store = InMemoryJobStore()
            jobs = []
            async with WorkerPool(store, handler, workers=2, capacity=10, dispatch=dispatch) as p:
                jobs.append(await p.submit(Job(type="long", payload={"s": 10.0})))
                await anyio.lowlevel.checkpoint()
                for _ in range(4):
                    jobs.append(await p.submit(Job(type="short", payload={"s": 1.0})))
            return [j.started - j.created for j in jobs]

        return virtual(main, backend)  # type: ignore[no-any-return]

    assert waits("fifo") == [0.0, 0.0, 1.0, 2.0, 3.0]
    prefetch = waits(Prefetch(1))
    assert max(prefetch) >= 10.0  # one short job sat behind the long one
    assert sorted(prefetch)[:3] == [0.0, 0.0, 1.0]


def test_a_rate_limited_type_starts_at_its_rate_and_others_take_the_free_workers() -> None:
    starts: dict[str, list[float]] = {"email": [], "other": []}

    async def handler(job: Job) -> None:
        starts[job.type].append(anyio.current_time())
        await anyio.sleep(0.01)

    async def main() -> None:
        limits = {"email": RateLimit(per_second=10, burst=5)}
        async with WorkerPool(
            InMemoryJobStore(), handler, workers=10, capacity=100, limits=limits
        ) as pool:
            for _ in range(15):
                await pool.submit(Job(type="email"))
            for _ in range(5):
                await pool.submit(Job(type="other"))

    virtual(main)
    emails = sorted(starts["email"])
    assert emails[:5] == [0.0] * 5  # the burst
    assert emails[5:] == pytest.approx([0.1 * k for k in range(1, 11)])  # then 10 per second
    assert max(starts["other"]) < 0.1  # never held up behind the limited emails


def test_a_concurrency_cap_holds_and_no_worker_idles_while_others_wait() -> None:
    running = Counter[str]()
    peak = Counter[str]()
    starts: list[tuple[str, float]] = []

    async def handler(job: Job) -> None:
        running[job.type] += 1
        peak[job.type] = max(peak[job.type], running[job.type])
        starts.append((job.type, anyio.current_time()))
        await anyio.sleep(1.0)
        running[job.type] -= 1

    async def main() -> None:
        async with WorkerPool(
            InMemoryJobStore(),
            handler,
            workers=4,
            capacity=100,
            limits={"report": Concurrency(2)},
        ) as pool:
            for _ in range(6):
                await pool.submit(Job(type="report"))
            for _ in range(6):
                await pool.submit(Job(type="mail"))

    virtual(main)
    assert peak["report"] == 2
    mail_starts = sorted(t for kind, t in starts if kind == "mail")
    assert mail_starts == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]  # two free workers from the start
    assert max(t for kind, t in starts if kind == "report") == 2.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("dispatch", ["fifo", "priority"])
def test_a_drain_under_a_concurrency_cap_ends_when_the_last_capped_job_is_taken(
    backend: str, dispatch: str
) -> None:
    # More workers than the cap: the surplus park while the closed queue still holds jobs they
    # may not start. When the last one is taken they must see the end of the stream, or the
    # shutdown that joins them waits for ever (the guard below turns that into a failure).
    async def handler(job: Job) -> None:
        await anyio.sleep(1.0)

    async def main() -> tuple[int, float]:
        async with WorkerPool(
            InMemoryJobStore(),
            handler,
            workers=3,
            capacity=3,
            dispatch=dispatch,
            limits={"job": Concurrency(1)},
        ) as pool:
            for n in range(12):
                await pool.submit(Job(priority=n % 3))
            with anyio.fail_after(1_000):  # virtual seconds: only a stuck shutdown gets here
                report = await pool.shutdown(drain=True)
            return report.completed, anyio.current_time()

    completed, ended = virtual(main, backend)
    assert completed == 12
    assert ended == pytest.approx(12.0, abs=1e-6)  # one at a time under the cap, no stall


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("dispatch", DISPATCHES, ids=str)
def test_ttl_expires_waiting_jobs_and_never_interrupts_a_running_one(
    backend: str, dispatch: object
) -> None:
    ran: list[str] = []
    events: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.type)
        await anyio.sleep(2.0)

    async def main() -> Any:
        store = InMemoryJobStore()
        async with WorkerPool(
            store,
            handler,
            workers=1,
            capacity=10,
            dispatch=dispatch,
            tracer=lambda event, *_: events.append(str(event)),
        ) as pool:
            await pool.submit(Job(type="runs-past-its-ttl", ttl=0.5))  # starts at once
            late = await pool.submit(Job(type="late", ttl=1.0))  # would start at t = 2
            ok = await pool.submit(Job(type="ok", ttl=10.0))
            report = await pool.shutdown()
        return report, (await store.get(late.id)).status, (await store.get(ok.id)).status

    report, late_status, ok_status = virtual(main, backend)
    assert ran == ["runs-past-its-ttl", "ok"]
    assert (late_status, ok_status) == (JobStatus.EXPIRED, JobStatus.COMPLETED)
    assert (report.completed, report.expired, report.duplicates_skipped) == (2, 1, 0)
    assert events.count("expired") == 1


@pytest.mark.parametrize("dispatch", DISPATCHES, ids=str)
async def test_drain_false_leaves_queued_jobs_pending_for_every_dispatch(
    anyio_backend: str, dispatch: object
) -> None:
    store = InMemoryJobStore()
    started = anyio.Event()
    release = anyio.Event()

    async def handler(job: Job) -> None:
        started.set()
        await release.wait()

    async with WorkerPool(store, handler, workers=2, capacity=20, dispatch=dispatch) as pool:
        for n in range(12):
            await pool.submit(Job(priority=n % 3))
        await started.wait()
        await anyio.wait_all_tasks_blocked()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pool.shutdown(drain=False))
            await anyio.wait_all_tasks_blocked()
            release.set()
    counts = await store.counts()
    assert counts[JobStatus.PROCESSING] == 0
    assert counts[JobStatus.COMPLETED] == 2 and counts[JobStatus.PENDING] == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dispatch": "lifo"}, "dispatch must be 'fifo', 'priority', Priority(aging=...)"),
        ({"dispatch": 3}, "got 3"),
        ({"limits": {"email": 10}}, "limits['email'] must be RateLimit"),
        ({"limits": ["email"]}, "limits must be a dict"),
    ],
)
def test_bad_policies_are_named(kwargs: dict[str, Any], message: str) -> None:
    async def handler(job: Job) -> None: ...

    with pytest.raises((ValueError, TypeError)) as caught:
        WorkerPool(InMemoryJobStore(), handler, **kwargs)
    assert message in str(caught.value)
    with pytest.raises(ValueError, match=r"RateLimit.per_second must be a positive, finite .*-1"):
        RateLimit(per_second=-1)
    with pytest.raises(ValueError, match=r"RateLimit.per_second .* got nan"):
        RateLimit(per_second=float("nan"))
