"""Head-of-line blocking: with per-worker prefetch a short job can wait behind a long one on
a busy worker while another worker sits idle.

:func:`prefetch_demo` runs the real pool in virtual time: one long job (10 s) and a batch of
short ones (0.5 s each), all at t = 0. The bug: ``Prefetch(k)`` (Celery's prefetch multiplier)
assigns jobs to workers round-robin as they arrive, so the long job's worker holds short jobs
in its buffer for 10 s. The fix: the shared channel (``dispatch="fifo"``), where whichever
worker is free takes the next job.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, TextIO

from jobsim.demos.recording import check_count
from jobsim.mix import Mix
from jobsim.pool.prefetch import Prefetch
from jobsim.simulate import simulate
from jobsim.workload import Batch, Constant, Workload

__all__ = ["OPTIONS", "PrefetchDemoReport", "narrate", "prefetch_demo"]

SHORT_JOBS = 8
LONG_SECONDS = 10.0
SHORT_SECONDS = 0.5


@dataclass(frozen=True)
class PrefetchDemoReport:
    """What :func:`prefetch_demo` saw.

    Attributes:
        fixed: whether the shared channel ran (else ``Prefetch(k)``).
        k: the prefetch buffer size.
        workers: the pool's size.
        short_waits: the wait of each short job, in arrival order (virtual seconds).
        short_workers: the worker that ran each short job.
        makespan: when the last job finished.
    """

    fixed: bool
    k: int
    workers: int
    short_waits: list[float]
    short_workers: list[str]
    makespan: float

    @property
    def blocked(self) -> int:
        """Short jobs that waited behind the long one."""
        return sum(1 for wait in self.short_waits if wait >= LONG_SECONDS)


def prefetch_demo(fixed: bool = False, *, workers: int = 2, k: int = 4) -> PrefetchDemoReport:
    """Run one long and several short jobs on ``workers`` workers, with ``Prefetch(k)``
    (``fixed=False``) or the shared channel."""
    check_count("workers", workers)
    if workers < 2:
        raise ValueError(f"workers must be >= 2 to show head-of-line blocking, got {workers}")
    check_count("k", k)
    mix = Mix(
        long=Workload(1, Batch(), Constant(LONG_SECONDS)),
        short=Workload(SHORT_JOBS, Batch(), Constant(SHORT_SECONDS)),
        seed=1,
    )
    dispatch = "fifo" if fixed else Prefetch(k)
    result = simulate(mix, workers=workers, capacity=100, dispatch=dispatch, engine="pool")
    short = result.jobs[result.jobs["job_class"] == "short"].sort_values("index")
    return PrefetchDemoReport(
        fixed,
        k,
        workers,
        [round(float(w), 6) for w in short["wait"]],
        [str(w) for w in short["worker_id"]],
        float(result.summary["makespan"]),
    )


#: Command-line options of ``python -m jobsim demo prefetch`` (argparse keywords).
OPTIONS: dict[str, dict[str, Any]] = {
    "--workers": {"type": int, "default": 2, "help": "workers in the pool (default 2)"},
    "--k": {"type": int, "default": 4, "help": "jobs each worker prefetches (default 4)"},
}


def narrate(args: argparse.Namespace, out: TextIO) -> None:
    """Tell the story: who ran each short job and how long it waited."""
    report = prefetch_demo(args.fixed, workers=args.workers, k=args.k)
    how = "the shared channel (fifo)" if args.fixed else f"Prefetch({args.k})"
    print(
        f"Prefetch: {args.workers} workers; at t = 0 one {LONG_SECONDS:g} s job, then "
        f"{SHORT_JOBS} jobs of {SHORT_SECONDS:g} s.\nDispatch: {how}.\n",
        file=out,
    )
    for n, (wait, worker) in enumerate(zip(report.short_waits, report.short_workers, strict=True)):
        mark = "!!" if wait >= LONG_SECONDS else "  "
        print(f"{mark} short job {n}: ran on {worker}, waited {wait:6.2f} s", file=out)
    print(
        f"\nAll done at t = {report.makespan:g} s; {report.blocked} short job(s) waited "
        "behind the long one.",
        file=out,
    )
    if report.blocked:
        print(
            "They sat in the buffer of the worker running the long job while another worker "
            "had nothing to do: head-of-line blocking. Run with --fixed (shared channel).",
            file=out,
        )
