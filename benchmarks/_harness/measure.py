"""Measuring: one batch of jobs through a real pool, a plan of configurations run ``repeat``
times, and where the figures were taken (environment columns, the CSV they are appended to).

* :func:`batch_run` runs one batch of pre-built jobs through a :class:`~jobsim.WorkerPool` and
  measures it from the store's own timestamps (one clock per run: the loop's).
* :func:`run_plan` runs a plan of configurations ``repeat`` times (interleaved, after one
  discarded warm-up run) under a tqdm progress bar and returns tidy rows.
* :func:`add_speedup` / :func:`order_columns` finish a suite's tidy frame.
* :func:`environment` / :func:`append_csv` record where and when the figures were taken.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import jobsim
from jobsim import InMemoryJobStore, Job, WorkerPool
from jobsim.pool import Handler, loop_clock

__all__ = [
    "BASE_COLUMNS",
    "ENV_COLUMNS",
    "Step",
    "add_speedup",
    "append_csv",
    "batch_run",
    "environment",
    "order_columns",
    "percentile_columns",
    "run_plan",
    "with_environment",
]

#: Columns every suite fills where they apply, in this order.
BASE_COLUMNS: tuple[str, ...] = (
    "suite",
    "backend",
    "clock",
    "store",
    "workers",
    "repeat",
    "jobs",
    "makespan_s",
    "throughput_jobs_s",
    "speedup",
    "efficiency",
    "wait_p50_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
)

#: Added by the harness to every row.
ENV_COLUMNS: tuple[str, ...] = ("python", "cpu_count", "jobsim_version", "platform", "timestamp")


def environment() -> dict[str, Any]:
    """Where and when the figures were taken: python, cpu_count, jobsim version, timestamp."""
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jobsim_version": jobsim.__version__,
        "platform": f"{platform.system()}-{platform.machine()}",
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def with_environment(frame: pd.DataFrame, env: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """``frame`` with the environment columns appended (the same values on every row)."""
    env = environment() if env is None else env
    out = frame.copy()
    for key, value in env.items():
        out[key] = value
    return out


def append_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Append ``frame`` to the CSV at ``path`` (created if missing).

    Earlier invocations may have written other suites with other columns, so the file is
    re-read and rewritten with the union of the columns rather than blindly appended.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 0:
        old = pd.read_csv(path)
        frame = pd.concat([old, frame], ignore_index=True, sort=False)
    frame.to_csv(path, index=False)
    return path


# -- one batch run ---------------------------------------------------------------------------------


def percentile_columns(waits: np.ndarray, latencies: np.ndarray) -> dict[str, float]:
    """The wait median and latency percentiles the tidy rows carry (seconds)."""
    if len(latencies) == 0:
        nan = float("nan")
        return dict.fromkeys(("wait_p50_s", "latency_p50_s", "latency_p95_s", "latency_p99_s"), nan)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {
        "wait_p50_s": float(np.median(waits)),
        "latency_p50_s": float(p50),
        "latency_p95_s": float(p95),
        "latency_p99_s": float(p99),
    }


async def batch_run(
    handler: Handler,
    *,
    jobs: int,
    workers: int,
    capacity: int | None = None,
    job_type: str = "bench",
) -> dict[str, float]:
    """Run ``jobs`` jobs that all arrive at once through a fresh pool; measure it.

    The Job objects are built before the clock starts. The clock is the running loop's (real
    or virtual); ``makespan_s`` runs from the first submit to the last completion; wait is
    ``started - created`` and latency ``finished - created`` per job, from the store.
    ``capacity`` defaults to ``max(100, jobs)``: the whole batch fits in the channel, as in
    the original Go service (100 jobs, capacity 100), so nobody waits on backpressure.
    """
    store = InMemoryJobStore()
    batch = [Job(type=job_type) for _ in range(jobs)]
    clock = loop_clock()
    async with WorkerPool(
        store, handler, workers=workers, capacity=capacity or max(100, jobs)
    ) as pool:
        start = clock()
        for job in batch:
            await pool.submit(job)
        report = await pool.shutdown()
    if report.completed != jobs:
        raise RuntimeError(
            f"benchmark run lost jobs: {report.completed} of {jobs} completed ({report})"
        )
    finished = np.array([j.finished for j in batch], dtype=float)
    created = np.array([j.created for j in batch], dtype=float)
    started = np.array([j.started for j in batch], dtype=float)
    makespan = float(finished.max() - start)
    return {
        "jobs": jobs,
        "makespan_s": makespan,
        "throughput_jobs_s": jobs / makespan if makespan > 0 else float("inf"),
        **percentile_columns(started - created, finished - created),
    }


# -- plans, repeats, progress ---------------------------------------------------------------------

#: Identity columns left out of the progress bar's postfix (constant within a suite).
_QUIET = frozenset({"suite", "store", "clock", "backend", "duration_s"})

#: One configuration: the row's identifying columns and an async measurement returning metrics.
Step = tuple[dict[str, Any], Callable[[], Awaitable[Mapping[str, Any]]]]


async def run_plan(
    steps: Sequence[Step],
    *,
    repeat: int,
    warmup: bool = True,
    progress: bool = True,
    desc: str = "runs",
) -> list[dict[str, Any]]:
    """Run every step ``repeat`` times and return one row per run.

    Repeats are interleaved (all steps for repeat 0, then all for repeat 1, ...) so a slow
    spell on the shared machine spreads over every configuration instead of skewing one.
    With ``warmup`` the cheapest-looking step (the last one) runs once first and is discarded:
    imports, allocator and caches settle before anything is recorded.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    total = len(steps) * repeat + (1 if warmup and steps else 0)
    rows: list[dict[str, Any]] = []
    with tqdm(total=total, desc=desc, unit="run", disable=not progress, leave=False) as bar:
        if warmup and steps:
            bar.set_postfix_str("warm-up")
            await steps[-1][1]()
            bar.update()
        for r in range(repeat):
            for ident, measure in steps:
                bar.set_postfix_str(
                    " ".join(f"{k}={v}" for k, v in ident.items() if k not in _QUIET)
                )
                metrics = await measure()
                rows.append({**ident, "repeat": r, **metrics})
                bar.update()
    return rows


def add_speedup(
    frame: pd.DataFrame, by: Sequence[str], *, baseline_workers: int = 1
) -> pd.DataFrame:
    """Fill ``speedup`` (median 1-worker makespan / this makespan) and ``efficiency``
    (speedup / workers) within each group of ``by``; NaN where a group has no 1-worker run."""
    out = frame.copy()
    base = (
        out[out["workers"] == baseline_workers]
        .groupby(list(by), dropna=False)["makespan_s"]
        .median()
        .rename("_base")
    )
    out = out.join(base, on=list(by))
    out["speedup"] = out["_base"] / out["makespan_s"]
    out["efficiency"] = out["speedup"] / out["workers"]
    return out.drop(columns="_base")


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Base columns first (those present), then the suite's own, then the environment."""
    first = [c for c in BASE_COLUMNS if c in frame.columns]
    last = [c for c in ENV_COLUMNS if c in frame.columns]
    middle = [c for c in frame.columns if c not in first and c not in last]
    return frame[first + middle + last]
