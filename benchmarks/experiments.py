"""Experiments across cores: the same study run serially, on a process pool and on Dask.

One study: ``runs`` replications (16; 4 with ``--quick``) of an M/M/10 workload at 80 % load
with ``jobs`` jobs each (20,000; 2,000 with ``--quick``), every run on the real pool in virtual
time (``engine="pool"``), through :func:`jobsim.replicate` with ``executor="serial"``,
``"processes"`` (jobsim's spawn pool sized to the cores) and a ``dask.distributed.LocalCluster``
with one single-threaded worker process per core. Both pools are started by an untimed warm-up
study, as every study after a process's first finds them (the first pays a second or two of
start-up: each worker imports numpy and pandas). Rows (``case="study"``): ``executor``,
``runs``, ``jobs``, ``wall_s``, ``speedup`` (serial wall time / this one, same repeat, same
process), ``identical`` (the per-run frame equals the serial one, ``wall_time`` aside),
``differing`` (the columns that do not, if any) and ``load`` (the 1-minute load average when the
study started: the machine may be shared). Target: processes >= 1.7x serial on 2 cores.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benchmarks._harness import Options
from jobsim import Exponential, Poisson, Workload, replicate
from jobsim.executors import cores

__all__ = ["notes", "run"]

RUNS, QUICK_RUNS = 16, 4
JOBS, QUICK_JOBS = 20_000, 2_000
WORKERS = 10
TARGET = 1.7
#: Columns of the printed table (median [95% CI] per executor).
TABLE_METRICS = ("wall_s", "speedup")


def _study(workload: Workload, runs: int, executor: Any) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    result = replicate(
        workload,
        runs=runs,
        max_runs=runs,
        workers=WORKERS,
        capacity=workload.jobs,
        engine="pool",
        executor=executor,
        metrics=["wait_mean"],
        progress=False,
    )
    return time.perf_counter() - start, result.runs.drop(columns="wall_time")


def run(options: Options | None = None, /, **changes: Any) -> pd.DataFrame:
    """Serial vs processes vs Dask for one study; one row per (executor, repeat).

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``quick``, ``jobs`` (per run), ``repeat``; ``clock``: virtual only.
    """
    import distributed

    o = Options.of(options, **changes)
    o.require_clock("virtual", suite="experiments", why="runs virtual-time studies")
    jobs = o.jobs if o.jobs is not None else (QUICK_JOBS if o.quick else JOBS)
    runs = QUICK_RUNS if o.quick else RUNS
    workload = Workload(jobs, Poisson(0.8 * WORKERS), Exponential(1.0), seed=1)
    rows: list[dict[str, Any]] = []
    with (
        distributed.LocalCluster(
            n_workers=cores(), threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executors = {"serial": "serial", "processes": "processes", "dask": client}
        warm_up = Workload(200, workload.arrivals, workload.service)
        for executor in ("processes", client):  # workers started before the clock runs
            _study(warm_up, cores(), executor)
        steps = [(r, name) for r in range(o.repeat) for name in executors]
        baseline: dict[int, tuple[float, pd.DataFrame]] = {}
        for repeat, name in tqdm(steps, desc="experiments", unit="study", disable=not o.progress):
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            wall, frame = _study(workload, runs, executors[name])
            if name == "serial":
                baseline[repeat] = (wall, frame)
            base_wall, base_frame = baseline[repeat]
            rows.append(
                {
                    "suite": "experiments",
                    "case": "study",
                    "executor": name,
                    "repeat": repeat,
                    "runs": runs,
                    "jobs": jobs,
                    "workers": WORKERS,
                    "cores": cores(),
                    "wall_s": wall,
                    "speedup": base_wall / wall,
                    "load": load,
                    "identical": bool(frame.equals(base_frame)),
                    "differing": ",".join(
                        c for c in frame.columns if not frame[c].equals(base_frame[c])
                    ),
                }
            )
    return pd.DataFrame(rows)


def notes(frame: pd.DataFrame) -> list[str]:
    """Speedups against serial, per executor, and whether the frames were identical."""
    lines = []
    for name, part in frame.groupby("executor", sort=False):
        if name == "serial":
            continue
        target = f" (target >= {TARGET}x on 2 cores)" if name == "processes" else ""
        lines.append(
            f"{name}: {part['speedup'].median():.2f}x serial{target} for "
            f"{part['runs'].iloc[0]} runs of {part['jobs'].iloc[0]:,} jobs on "
            f"{part['cores'].iloc[0]} cores (load average {part['load'].median():.1f}); "
            f"same frame as serial: {bool(part['identical'].all())}"
        )
    return lines
