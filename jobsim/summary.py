"""A run's headline numbers from its per-job frame: :func:`summarise` (the keys of
:data:`SUMMARY_KEYS`) and :func:`by_class`, one row per job class.

Pure computations on the frame, below :mod:`jobsim.records` (whose :class:`RunResult` calls
them) and :mod:`jobsim.analysis` (which recomputes a summary after a warm-up cut).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim.domain import JobStatus

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUMMARY_KEYS", "by_class", "summarise"]

#: Keys of :attr:`RunResult.summary`.
SUMMARY_KEYS = [
    "workers",
    "jobs",
    "makespan",
    "throughput",
    "goodput",
    "wait_mean",
    "wait_p50",
    "wait_p95",
    "wait_p99",
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "utilisation",
    "worker_seconds",
    "cost_per_job",
    "lq",
    "l",
    "completed",
    "failed",
    "cancelled",
    "expired",
    "pending",
    "retried",
    "duplicates",
    "lost",
]


def _percentiles(values: np.ndarray, prefix: str) -> dict[str, float]:
    if values.size == 0:
        return {f"{prefix}_{k}": float("nan") for k in ("mean", "p50", "p95", "p99")}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_p50": float(p50),
        f"{prefix}_p95": float(p95),
        f"{prefix}_p99": float(p99),
    }


def summarise(
    jobs: pd.DataFrame,
    *,
    workers: int,
    busy: float,
    duplicates: int = 0,
    worker_seconds: float | None = None,
) -> dict[str, Any]:
    """The run's headline numbers from its per-job frame (see :data:`SUMMARY_KEYS`);
    ``worker_seconds`` defaults to ``workers x makespan`` (a pool of fixed size)."""
    status = jobs["status"]
    counts = status.value_counts().to_dict()  # one pass over the strings, not one per status
    completed = int(counts.get(JobStatus.COMPLETED.value, 0))
    failed = int(counts.get(JobStatus.FAILED.value, 0))
    finished = jobs["finished"].dropna()
    makespan = float(finished.max()) if len(finished) else 0.0
    if completed + failed == len(jobs):
        done = jobs
    else:
        done = jobs[status.isin([JobStatus.COMPLETED.value, JobStatus.FAILED.value])]
    summary: dict[str, Any] = {
        "workers": workers,
        "jobs": len(jobs),
        "makespan": makespan,
        "throughput": len(done) / makespan if makespan > 0 else float("nan"),
        "goodput": completed / makespan if makespan > 0 else float("nan"),
    }
    summary |= _percentiles(jobs["wait"].dropna().to_numpy(), "wait")
    summary |= _percentiles(done["latency"].dropna().to_numpy(), "latency")
    if worker_seconds is None:
        worker_seconds = workers * makespan
    summary["utilisation"] = busy / worker_seconds if worker_seconds > 0 else float("nan")
    summary["worker_seconds"] = worker_seconds
    summary["cost_per_job"] = worker_seconds / completed if completed else float("nan")
    summary["lq"] = summary["l"] = float("nan")  # from the trace: see analysis.occupancy_means
    summary |= {
        "completed": completed,
        "failed": failed,
        "cancelled": int(counts.get(JobStatus.CANCELLED.value, 0)),
        "expired": int(counts.get(JobStatus.EXPIRED.value, 0)),
        "pending": int(counts.get(JobStatus.PENDING.value, 0)),
        "retried": int((jobs["attempts"] > 1).sum()),
        "duplicates": duplicates,
        "lost": int(counts.get(JobStatus.PROCESSING.value, 0)),
    }
    return summary


def by_class(jobs: pd.DataFrame) -> pd.DataFrame:
    """The summary per job class of a per-job frame (see :meth:`RunResult.by_class`)."""
    import pandas as pd

    rows = []
    for name, group in jobs.groupby("job_class", sort=False):
        status = group["status"]
        done = group[status.isin([JobStatus.COMPLETED.value, JobStatus.FAILED.value])]
        rows.append(
            {
                "job_class": name,
                "priority": int(group["priority"].iloc[0]),
                "jobs": len(group),
                "completed": int((status == JobStatus.COMPLETED.value).sum()),
                "failed": int((status == JobStatus.FAILED.value).sum()),
                "expired": int(group["expired"].sum()),
            }
            | _percentiles(group["wait"].dropna().to_numpy(), "wait")
            | _percentiles(done["latency"].dropna().to_numpy(), "latency")
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("priority", ascending=False, kind="stable").set_index("job_class")
