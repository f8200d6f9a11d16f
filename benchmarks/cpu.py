"""CPU-bound jobs: threads vs processes on 1 and 2 workers (the GIL made visible).

The lab's pure-Python busy loop (:func:`jobsim.workload.spin`, calibrated by
:func:`~jobsim.workload.spins_for` to ``duration`` seconds of CPU per job) runs in three ways,
each through the same WorkerPool (the last two are the lab's ``cpu-thread`` and ``cpu-process``
workload kinds; the handlers are built here rather than through ``simulate()`` so that one event
loop, and so one set of worker processes started by the warm-up run, serves every run):

* ``inline``: in the handler itself, on the event loop: it blocks the loop, so 2 workers
  cannot overlap at all (the negative control);
* ``cpu-thread``: ``anyio.to_thread.run_sync``: the loop stays free, but the GIL lets one thread
  run Python at a time, so 2 workers stay near 1x;
* ``cpu-process``: ``anyio.to_process.run_sync``: separate interpreters, so 2 workers approach
  2x when two cores are free (this machine shares its cores: expect noise).

``speedup`` = median 1-worker makespan / this makespan for the same kind. Real clock only:
CPU work has no meaning in virtual time. The worker processes are started by the discarded
warm-up run, so their start-up cost is not in the figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_process
import anyio.to_thread
import pandas as pd

from benchmarks._harness import (
    Options,
    Step,
    add_speedup,
    batch_run,
    order_columns,
    plot_bars,
    run_plan,
)
from jobsim import Job
from jobsim.workload import spin, spins_for

__all__ = ["KINDS", "notes", "plot", "run"]

#: ``cpu-thread`` and ``cpu-process`` are the lab's workload kinds (:mod:`jobsim.workload`).
KINDS: tuple[str, ...] = ("inline", "cpu-thread", "cpu-process")
DEFAULT_WORKERS: tuple[int, ...] = (1, 2)
DEFAULT_JOBS = 8
QUICK_JOBS = 4
DEFAULT_DURATION = 0.05
QUICK_DURATION = 0.01


def _handler(kind: str, iterations: int) -> Callable[[Job], Awaitable[int]]:
    if kind == "inline":

        async def inline(job: Job) -> int:
            return spin(iterations)

        return inline
    if kind == "cpu-thread":

        async def in_thread(job: Job) -> int:
            return await anyio.to_thread.run_sync(spin, iterations)

        return in_thread
    if kind == "cpu-process":

        async def in_process(job: Job) -> int:
            return int(await anyio.to_process.run_sync(spin, iterations))

        return in_process
    raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


def run(
    options: Options | None = None, /, *, kinds: tuple[str, ...] = KINDS, **changes: Any
) -> pd.DataFrame:
    """Threads vs processes (and inline) on CPU-bound jobs; one tidy row per run.

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``quick``: 4 jobs of 10 ms instead of 8 of 50 ms; ``workers``: default 1 and 2 (1 is
    always added as the baseline); ``duration``: seconds of CPU per job; ``clock``: real only
    (CPU time cannot be simulated). ``kinds``: which of ``inline``, ``cpu-thread``,
    ``cpu-process`` to run.
    """
    o = Options.of(options, **changes)
    o.require_clock("real", suite="cpu", why="needs real CPU work, which virtual time cannot skip")
    for kind in kinds:
        _handler(kind, 1)  # validates the name
    counts = o.worker_counts(DEFAULT_WORKERS, baseline=True)
    n = o.jobs or (QUICK_JOBS if o.quick else DEFAULT_JOBS)
    duration = o.duration or (QUICK_DURATION if o.quick else DEFAULT_DURATION)
    backend, repeat, progress = o.backend or "asyncio", o.repeat, o.progress
    iterations = spins_for(duration)
    ident = {"suite": "cpu", "backend": backend, "clock": "real", "store": "memory"}
    steps: list[Step] = [
        (
            {**ident, "kind": kind, "workers": w, "duration_s": duration},
            partial(batch_run, _handler(kind, iterations), jobs=n, workers=w),
        )
        for kind in kinds
        for w in counts
    ]
    # The warm-up runs the last step: the most processes, so every worker process is started.
    steps.sort(key=lambda s: (s[0]["kind"] == "cpu-process", s[0]["workers"]))

    async def main() -> list[dict[str, Any]]:
        return await run_plan(steps, repeat=repeat, progress=progress, desc="cpu")

    frame = pd.DataFrame(anyio.run(main, backend=backend))
    frame["iterations"] = iterations
    frame = add_speedup(frame, ["kind", "backend"])
    return order_columns(frame)


def notes(frame: pd.DataFrame) -> list[str]:
    """Speedup at 2 workers per kind, in words."""
    top = frame["workers"].max()
    lines = []
    for kind, group in frame[frame["workers"] == top].groupby("kind", sort=False):
        lines.append(f"{kind}: speedup at {top} workers {group['speedup'].median():.2f}")
    return lines


def plot(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``cpu_speedup.png``: speedup per kind and worker count (medians, 95% CI)."""
    return plot_bars(
        frame,
        out_dir,
        prefix="cpu",
        metric="speedup",
        by=("kind", "workers"),
        ylabel="speedup vs 1 worker",
        title="cpu: CPU-bound jobs, threads vs processes (GIL)",
    )
