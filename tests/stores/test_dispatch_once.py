"""Exactly once for every dispatch policy, on every store and both backends: each job is
delivered twice (and carries a priority, some a type with limits), and still runs once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from jobsim import Concurrency, Job, JobStatus, Prefetch, Priority, RateLimit, WorkerPool
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio

POLICIES: list[tuple[str, dict[str, Any]]] = [
    ("fifo", {}),
    ("priority", {"dispatch": "priority"}),
    ("aging", {"dispatch": Priority(aging=0.001)}),
    ("prefetch-1", {"dispatch": Prefetch(1)}),
    ("prefetch-4", {"dispatch": Prefetch(4)}),
    (
        "priority+limits",
        {
            "dispatch": "priority",
            "limits": {"b": Concurrency(2), "c": RateLimit(per_second=10_000, burst=3)},
        },
    ),
]


@pytest.mark.parametrize(("name", "options"), POLICIES, ids=[n for n, _ in POLICIES])
async def test_every_job_delivered_twice_runs_once(
    store: JobStore, name: str, options: dict[str, Any]
) -> None:
    runs: Counter[str] = Counter()

    async def handler(job: Job) -> None:
        runs[job.id] += 1
        await anyio.lowlevel.checkpoint()

    async with WorkerPool(store, handler, workers=6, capacity=8, **options) as pool:
        jobs = [
            await pool.submit(Job(type="abc"[n % 3], priority=n % 4, payload={"n": n}))
            for n in range(60)
        ]
        for job in jobs:
            await pool.deliver(job.id)
        report = await pool.shutdown()
    assert len(runs) == 60 and set(runs.values()) == {1}
    assert report.completed == 60 and report.duplicates_skipped == 60
    assert (await store.counts())[JobStatus.COMPLETED] == 60
