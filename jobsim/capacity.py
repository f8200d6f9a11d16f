"""Capacity and cost over a run: how many workers there were, how busy, and at what price.

Built once at the end of a run from its trace (pandas, like :mod:`jobsim.records`):

* :func:`timeline`: ``time, workers, busy`` after every change (workers alive, jobs running);
* :func:`integral`: the area under a step column, e.g. ``worker_seconds`` (the cost);
* :func:`windows`: throughput, p95 latency, mean workers and utilisation per time window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from jobsim import checks
from jobsim.events import ATTEMPT_ENDS, TraceEvent

if TYPE_CHECKING:
    import pandas as pd

    from jobsim.records import RunResult

__all__ = ["WINDOW_COLUMNS", "integral", "timeline", "windows"]

#: Columns of :meth:`RunResult.windows`.
WINDOW_COLUMNS = [
    "start",
    "end",
    "arrivals",
    "completed",
    "throughput",
    "latency_p95",
    "workers",
    "busy",
    "utilisation",
    "worker_seconds",
]


def timeline(
    events: pd.DataFrame, worker_changes: Sequence[tuple[float, int]], initial: int
) -> pd.DataFrame:
    """``time, workers, busy`` from ``initial`` workers at 0, ``worker_changes`` (time, +1 or
    -1) and the job events (a start adds one busy worker, an attempt's end removes one)."""
    import pandas as pd

    ran = events[events["worker_id"].notna()]
    kinds = ran["event"].to_numpy()
    busy_delta = np.where(kinds == TraceEvent.STARTED, 1, 0) - np.isin(
        kinds, np.array(ATTEMPT_ENDS, dtype=object)
    ).astype(int)
    moves = busy_delta != 0
    times = np.concatenate(
        [
            [0.0],
            np.array([t for t, _ in worker_changes], dtype=float),
            ran["time"].to_numpy()[moves],
        ]
    )
    d_workers = np.concatenate(
        [[initial], np.array([d for _, d in worker_changes], dtype=int), np.zeros(moves.sum(), int)]
    )
    d_busy = np.concatenate([[0], np.zeros(len(worker_changes), int), busy_delta[moves]])
    order = np.argsort(times, kind="stable")
    frame = pd.DataFrame(
        {
            "time": times[order],
            "workers": np.cumsum(d_workers[order]),
            "busy": np.cumsum(d_busy[order]),
        }
    )
    return frame.groupby("time", sort=True, as_index=False).last()


def integral(steps: pd.DataFrame, column: str, start: float, end: float) -> float:
    """The area under ``steps[column]`` (a step function of ``steps["time"]``) on
    ``[start, end]``."""
    if end <= start or steps.empty:
        return 0.0
    times = steps["time"].to_numpy(dtype=float)
    values = steps[column].to_numpy(dtype=float)
    edges = np.clip(np.append(times, np.inf), start, end)
    return float((np.diff(edges) * values).sum())


def windows(result: RunResult, seconds: float) -> pd.DataFrame:
    """Per window of ``seconds`` from 0 to the makespan: arrivals, completions and
    throughput, the p95 latency of jobs that finished in it, mean workers and busy workers,
    utilisation (busy time / worker time) and its worker-seconds. Ready to plot."""
    import pandas as pd

    checks.positive("windows seconds", seconds)
    jobs, steps = result.jobs, result.workers
    end = float(result.summary["makespan"])
    starts = np.arange(0.0, end, seconds) if end > 0 else np.zeros(1)
    rows = []
    done = jobs[jobs["status"] == "completed"]
    for a in starts:
        b = a + seconds
        finished = done[(done["finished"] >= a) & (done["finished"] < b)]
        span = min(b, end) - a  # the last window stops at the makespan
        worker_time = integral(steps, "workers", a, a + span)
        busy_time = integral(steps, "busy", a, a + span)
        latency = finished["latency"].dropna().to_numpy()
        rows.append(
            {
                "start": a,
                "end": b,
                "arrivals": int(((jobs["submitted"] >= a) & (jobs["submitted"] < b)).sum()),
                "completed": len(finished),
                "throughput": len(finished) / seconds,
                "latency_p95": float(np.percentile(latency, 95)) if latency.size else np.nan,
                "workers": worker_time / span if span > 0 else np.nan,
                "busy": busy_time / span if span > 0 else np.nan,
                "utilisation": busy_time / worker_time if worker_time > 0 else np.nan,
                "worker_seconds": worker_time,
            }
        )
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)
