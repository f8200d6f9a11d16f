"""Starvation: under priority dispatch a steady stream of urgent jobs can keep a low-priority
job waiting for as long as the stream lasts; aging lets it through.

:func:`starvation` runs the real pool in virtual time on one mix: an urgent job every second
(each takes a second, so the workers never run out of urgent work) and a few bulk jobs at the
start. The bug: ``dispatch="priority"`` (bulk waits until the urgent stream ends). The fix:
``Priority(aging=5)``: a waiting job gains one priority per 5 s, so bulk jobs get a turn.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, TextIO

from jobsim.demos.recording import check_count
from jobsim.mix import Mix
from jobsim.pool.priority import Priority
from jobsim.simulate import simulate
from jobsim.workload import Batch, Constant, Periodic, Workload

__all__ = ["OPTIONS", "StarvationReport", "narrate", "starvation"]

URGENT_JOBS = 30
BULK_JOBS = 3
AGING = 5.0


@dataclass(frozen=True)
class StarvationReport:
    """What :func:`starvation` saw.

    Attributes:
        fixed: whether aging was on.
        workers: the pool's size.
        waits: ``{class: [wait of each job, in arrival order]}`` (virtual seconds).
        last_urgent_start: when the last urgent job started.
    """

    fixed: bool
    workers: int
    waits: dict[str, list[float]]
    last_urgent_start: float

    @property
    def bulk_max_wait(self) -> float:
        return max(self.waits["bulk"])

    @property
    def starved(self) -> bool:
        """Whether a bulk job had to wait until the urgent stream was (almost) over."""
        return self.bulk_max_wait >= self.last_urgent_start


def starvation(fixed: bool = False, *, workers: int = 1) -> StarvationReport:
    """Run the mix with priority dispatch, without aging (``fixed=False``) or with it."""
    check_count("workers", workers)
    mix = Mix(
        urgent=Workload(URGENT_JOBS * workers, Periodic(1.0 / workers), Constant(1.0), priority=1),
        bulk=Workload(BULK_JOBS, Batch(), Constant(1.0)),
        seed=1,
    )
    dispatch = Priority(aging=AGING) if fixed else Priority()
    result = simulate(mix, workers=workers, capacity=1_000, dispatch=dispatch)
    jobs = result.jobs.sort_values("index")
    waits = {
        str(name): [round(float(w), 6) for w in group["wait"]]
        for name, group in jobs.groupby("job_class", sort=False)
    }
    urgent = jobs[jobs["job_class"] == "urgent"]
    return StarvationReport(fixed, workers, waits, float(urgent["started"].max()))


#: Command-line options of ``python -m jobsim demo starvation`` (argparse keywords).
OPTIONS: dict[str, dict[str, Any]] = {
    "--workers": {"type": int, "default": 1, "help": "workers in the pool (default 1)"},
}


def narrate(args: argparse.Namespace, out: TextIO) -> None:
    """Tell the story: the mix, then how long each bulk job waited."""
    report = starvation(args.fixed, workers=args.workers)
    how = f"Priority(aging={AGING:g})" if args.fixed else '"priority" (no aging)'
    print(
        f"Starvation: {args.workers} worker(s); urgent jobs (priority 1) keep arriving, "
        f"{args.workers} per second for {URGENT_JOBS} s, 1 s each; {BULK_JOBS} bulk jobs "
        f"(priority 0) wait from t = 0.\nDispatch: {how}.\n",
        file=out,
    )
    urgent = report.waits["urgent"]
    print(
        f"   urgent: mean wait {sum(urgent) / len(urgent):6.2f} s, max {max(urgent):6.2f} s",
        file=out,
    )
    for n, wait in enumerate(report.waits["bulk"]):
        mark = "!!" if wait >= report.last_urgent_start else "  "
        print(f"{mark} bulk job {n}: waited {wait:6.2f} s", file=out)
    if report.starved:
        print(
            "\nThe bulk jobs ran only when the urgent stream stopped: starvation. "
            "Run with --fixed (aging).",
            file=out,
        )
    else:
        print(
            f"\nWith aging every {AGING:g} s of waiting counts as one priority level, so the "
            "bulk jobs get a turn while urgent work still arrives.",
            file=out,
        )
