"""The original Go service's comparison: 1 vs N workers on I/O-bound jobs (the default suite).

Three cases, one row per run (``case`` column):

* ``sweep`` (real clock): ``jobs`` jobs that each ``anyio.sleep(duration)``, all arriving at
  once, on 1, 2, 5, 10, 20 and 50 workers. Durations are scaled down (50 ms, 10 ms with
  ``quick``) so the default run stays under a minute; the *ratio* is what the comparison is about.
  ``speedup`` = median 1-worker makespan / this makespan, ``efficiency`` = speedup / workers.
* ``go_table`` (virtual clock): the Go service's exact table, 100 jobs x 1 s, through
  ``jobsim.simulate(..., clock="virtual")`` on the chosen backend. Virtual time is exact:
  100 s on 1 worker, 10 s on 10, speedup 10.0.
* ``headroom`` (real clock): 10,000 jobs x 10 ms on 1,000 workers. Its ``efficiency`` is the
  ideal makespan ``ceil(jobs / workers) * duration`` over the measured one, and ``speedup``
  is ``jobs * duration / makespan`` (against the ideal serial time: 100 s is not worth
  measuring). A ``headroom_bare`` row runs the same sleeps on plain tasks without the pool:
  the event loop's own ceiling, so the pool's share of the gap is visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pandas as pd

from benchmarks._harness import (
    Options,
    Step,
    add_speedup,
    batch_run,
    order_columns,
    plot_scaling,
    run_plan,
)
from jobsim import Batch, Constant, Job, Workload, simulate
from jobsim.pool import loop_clock

__all__ = ["DEFAULT_WORKERS", "notes", "plot", "run"]

#: The Go service's sweep.
DEFAULT_WORKERS: tuple[int, ...] = (1, 2, 5, 10, 20, 50)
DEFAULT_JOBS = 100
DEFAULT_DURATION = 0.05
QUICK_DURATION = 0.01
GO_TABLE_DURATION = 1.0
HEADROOM = {"jobs": 10_000, "workers": 1_000, "duration_s": 0.01}
#: ``quick``: the same shape (10 rounds of 10 ms) at a fifth of the size.
QUICK_HEADROOM = {"jobs": 2_000, "workers": 200, "duration_s": 0.01}


def _sleeper(duration: float) -> Callable[[Job], Any]:
    async def io_job(job: Job) -> None:
        await anyio.sleep(duration)

    return io_job


async def _bare_headroom(jobs: int, workers: int, duration: float) -> dict[str, float]:
    """The headroom workload without the pool: ``workers`` tasks taking from a counter and
    sleeping. What the event loop alone allows; the pool cannot beat it."""
    remaining = jobs

    async def consumer() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await anyio.sleep(duration)

    clock = loop_clock()
    start = clock()
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(consumer)
    makespan = clock() - start
    nan = float("nan")
    return {
        "jobs": jobs,
        "makespan_s": makespan,
        "throughput_jobs_s": jobs / makespan,
        "wait_p50_s": nan,
        "latency_p50_s": nan,
        "latency_p95_s": nan,
        "latency_p99_s": nan,
    }


def _real_steps(
    workers: list[int], jobs: int, duration: float, backend: str, headroom: dict[str, float] | None
) -> list[Step]:
    ident = {"suite": "scaling", "backend": backend, "clock": "real", "store": "memory"}
    steps: list[Step] = [
        (
            {**ident, "case": "sweep", "workers": w, "duration_s": duration},
            partial(batch_run, _sleeper(duration), jobs=jobs, workers=w),
        )
        for w in workers
    ]
    if headroom:
        h = headroom
        bare_ident = {**ident, "store": "none", "case": "headroom_bare"}
        steps.append(
            (
                {**bare_ident, "workers": h["workers"], "duration_s": h["duration_s"]},
                partial(_bare_headroom, int(h["jobs"]), int(h["workers"]), float(h["duration_s"])),
            )
        )
        steps.append(
            (
                {
                    **ident,
                    "case": "headroom",
                    "workers": h["workers"],
                    "duration_s": h["duration_s"],
                },
                partial(
                    batch_run,
                    _sleeper(float(h["duration_s"])),
                    jobs=int(h["jobs"]),
                    workers=int(h["workers"]),
                ),
            )
        )
    if not headroom:
        # The warm-up runs the last step: make it a cheap one (the most workers of the sweep).
        steps.append(steps.pop(max(range(len(workers)), key=lambda i: workers[i])))
    return steps


def _simulate_one(jobs: int, workers: int, duration: float, backend: str) -> dict[str, float]:
    """One run of the Go service's batch through the lab's ``simulate`` in virtual time."""
    result = simulate(
        Workload(jobs, Batch(), Constant(duration)),
        workers=workers,
        capacity=max(100, jobs),  # the whole batch fits, as in batch_run
        clock="virtual",
        backend=backend,
        engine="pool",  # the pool itself, not its recursion
    )
    return _from_summary(result.summary, jobs)


def _from_summary(summary: Any, jobs: int) -> dict[str, float]:
    """Map a RunResult summary onto the tidy columns (names tolerated with or without ``_s``)."""
    data = dict(summary.items()) if hasattr(summary, "items") else dict(vars(summary))

    def pick(*names: str) -> float:
        for name in names:
            if name in data and data[name] is not None:
                return float(data[name])
        return float("nan")

    makespan = pick("makespan_s", "makespan")
    return {
        "jobs": jobs,
        "makespan_s": makespan,
        "throughput_jobs_s": jobs / makespan if makespan > 0 else float("nan"),
        "wait_p50_s": pick("wait_p50_s", "wait_p50"),
        "latency_p50_s": pick("latency_p50_s", "latency_p50"),
        "latency_p95_s": pick("latency_p95_s", "latency_p95"),
        "latency_p99_s": pick("latency_p99_s", "latency_p99"),
    }


def _virtual_rows(
    workers: list[int], jobs: int, repeat: int, backend: str, progress: bool
) -> list[dict[str, Any]]:
    """The Go service's table in virtual time (deterministic, so repeats agree exactly)."""

    async def measure(w: int) -> dict[str, float]:
        return _simulate_one(jobs, w, GO_TABLE_DURATION, backend)

    ident = {"suite": "scaling", "backend": backend, "clock": "virtual", "store": "memory"}
    steps: list[Step] = [
        (
            {**ident, "case": "go_table", "workers": w, "duration_s": GO_TABLE_DURATION},
            partial(measure, w),
        )
        for w in workers
    ]

    async def main() -> list[dict[str, Any]]:
        return await run_plan(
            steps, repeat=repeat, warmup=False, progress=progress, desc="scaling (virtual)"
        )

    return anyio.run(main)


def run(
    options: Options | None = None, /, *, headroom: bool = True, **changes: Any
) -> pd.DataFrame:
    """1 vs N workers on I/O-bound jobs; returns one tidy row per run.

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``quick``: 10 ms jobs instead of 50 ms, headroom at 2,000 jobs on 200 workers;
    ``workers``: the sweep (default 1, 2, 5, 10, 20, 50; 1 is always added as the baseline);
    ``jobs``: jobs per run (default 100, the original Go service's); ``backend``: asyncio
    (default) or trio; ``clock``: ``"real"`` (sweep + headroom), ``"virtual"`` (the Go
    service's table) or None (both); ``duration``: seconds each real-clock job sleeps (default 0.05,
    0.01 with ``quick``). ``headroom``: include the 10,000 x 10 ms on 1,000 workers rows.
    """
    o = Options.of(options, **changes)
    sweep = o.worker_counts(DEFAULT_WORKERS, baseline=True)
    jobs = DEFAULT_JOBS if o.jobs is None else o.jobs
    duration = o.duration or (QUICK_DURATION if o.quick else DEFAULT_DURATION)
    backend, clock, repeat, progress = o.backend or "asyncio", o.clock, o.repeat, o.progress
    rows: list[dict[str, Any]] = []
    if clock in (None, "real"):
        size = (QUICK_HEADROOM if o.quick else HEADROOM) if headroom else None
        steps = _real_steps(sweep, jobs, duration, backend, size)

        async def main() -> list[dict[str, Any]]:
            return await run_plan(steps, repeat=repeat, progress=progress, desc="scaling (real)")

        rows += anyio.run(main, backend=backend)
    if clock in (None, "virtual"):
        rows += _virtual_rows(sweep, jobs, repeat, backend, progress)
    frame = pd.DataFrame(rows)
    frame = add_speedup(frame, ["case", "backend", "clock"])
    head = frame["case"].isin(["headroom", "headroom_bare"])
    if head.any():
        ideal_makespan = (frame.loc[head, "jobs"] / frame.loc[head, "workers"]).map(
            math.ceil
        ) * frame.loc[head, "duration_s"]
        frame.loc[head, "efficiency"] = ideal_makespan / frame.loc[head, "makespan_s"]
        frame.loc[head, "speedup"] = (
            frame.loc[head, "jobs"] * frame.loc[head, "duration_s"] / frame.loc[head, "makespan_s"]
        )
    return order_columns(frame)


def notes(frame: pd.DataFrame) -> list[str]:
    """The targets in words: speedup at 10 workers (real, virtual), headroom efficiency."""
    lines = []
    for clock, case, target in (
        ("real", "sweep", ">= 9.5"),
        ("virtual", "go_table", "exactly 10.0"),
    ):
        at10 = frame[(frame["case"] == case) & (frame["workers"] == 10)]
        if not at10.empty:
            lines.append(
                f"speedup at 10 workers, {clock} clock: {at10['speedup'].median():.2f} "
                f"(target {target})"
            )
    head = frame[frame["case"] == "headroom"]
    if not head.empty:
        lines.append(
            f"I/O headroom, {int(head['jobs'].iloc[0]):,} jobs x "
            f"{head['duration_s'].iloc[0] * 1000:g} ms on {int(head['workers'].iloc[0]):,} "
            f"workers: efficiency {head['efficiency'].median():.2f} (target >= 0.95), "
            f"{head['throughput_jobs_s'].median():,.0f} jobs/s"
        )
    bare = frame[frame["case"] == "headroom_bare"]
    if not bare.empty:
        lines.append(
            f"  same workload without the pool (tasks + sleep only): efficiency "
            f"{bare['efficiency'].median():.2f}: the event loop's own ceiling on this machine"
        )
    return lines


def plot(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Scaling plots for the real-clock sweep (``scaling_*.png``) and the Go service's table
    (``scaling_virtual_*.png``); the single headroom point is reported in the table only."""
    written: list[Path] = []
    for case, prefix in (("sweep", "scaling"), ("go_table", "scaling_virtual")):
        part = frame[frame["case"] == case]
        if part["workers"].nunique() > 1:
            written += plot_scaling(part, out_dir, prefix=prefix, series=("backend",))
    return written
