"""``jobsim.plot.capacity``: load, workers and latency of one run on one time axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from jobsim import checks

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from jobsim.records import RunResult

__all__ = ["capacity"]


def capacity(result: RunResult, window: float, ax: Axes | None = None) -> Axes:
    """Arrivals per second and workers (left axis) and p95 latency (right axis) per window
    of ``window`` seconds (:meth:`RunResult.windows`): does capacity follow the load, and
    what does the lag cost? Returns the left Axes; the latency axis is its twin."""
    checks.positive("window", window)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    w = result.windows(window)
    middle = (w["start"] + w["end"]) / 2
    ax.step(middle, w["arrivals"] / window, where="mid", color="tab:blue", label="arrivals/s")
    ax.step(middle, w["workers"], where="mid", color="tab:green", label="workers (mean)")
    ax.step(middle, w["busy"], where="mid", color="tab:green", ls=":", label="busy workers")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("jobs/s, workers")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(middle, w["latency_p95"], color="tab:red", marker=".", label="p95 latency")
    right.set_ylabel("p95 latency (s)")
    right.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = right.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper left")
    s = result.summary
    ax.set_title(
        f"Load, capacity and latency per {window:g} s: {s['worker_seconds']:,.0f} "
        f"worker-seconds, {s['cost_per_job']:.3g} per job"
    )
    return ax
