"""Matplotlib helpers for the lab's frames: each draws one figure panel and returns its Axes.

Every helper takes ``ax=`` (draw into an existing Axes, e.g. one panel of a grid) or creates
a new figure when it is None; it labels the axes with units, sets a title, and adds a legend
when there is more than one series. The inputs are the lab's pandas frames:

* ``scaling(df)``: ``sweep`` output or benchmark rows: any metric against ``workers``.
* ``timeline(jobs)``: ``RunResult.jobs`` (``worker_id``, ``status``, ``started``, ``finished``).
* ``latency_cdf(jobs)``: ``RunResult.jobs`` (``latency`` or any other seconds column).
* ``queue_depth(series)``: ``RunResult.queue_depth`` (``time``, ``depth``).
* ``shutdown_sequence(events)``: a shutdown demo's event log (``time``, ``actor``, ``event``).
* ``animate(result)``: a run as a matplotlib animation (``jobsim.animation``).
* ``capacity(result, window)``: load, workers and p95 latency on one time axis.

The library never picks a matplotlib backend; scripts and tests choose one (e.g. Agg).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "RunAnimation",
    "animate",
    "capacity",
    "latency_cdf",
    "queue_depth",
    "scaling",
    "shutdown_sequence",
    "timeline",
]

from jobsim._plotting import STATUS_COLOURS, _axes, _natural_key, _require, _status_name
from jobsim.capacity_plot import capacity

if TYPE_CHECKING:
    from jobsim.animation import RunAnimation, animate

log = logging.getLogger("jobsim.plot")

#: Event texts a shutdown log marks as problems unless it has a boolean ``problem`` column.
PROBLEM_PATTERN = re.compile(r"error|lost|stuck|panic|exception|leak|closedresource", re.I)


# --- scaling ----------------------------------------------------------------------------------


def _median_ci(
    values: np.ndarray, level: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Median and a percentile-bootstrap confidence interval for it (seeded: reproducible)."""
    median = float(np.median(values))
    if len(values) < 2:
        return median, median, median
    samples = rng.choice(values, size=(2000, len(values)), replace=True)
    medians = np.median(samples, axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return median, float(low), float(high)


#: Metrics that would grow linearly with the workers under perfect parallelism.
_LINEAR = ("speedup", "throughput", "throughput_jobs_s", "goodput")


def _metric_column(df: pd.DataFrame, metric: str) -> str:
    """The column holding ``metric``: its own name, or a benchmark row's unit-suffixed one
    (``throughput`` -> ``throughput_jobs_s``, ``latency_p99`` -> ``latency_p99_s``)."""
    for column in (metric, f"{metric}_jobs_s", f"{metric}_s"):
        if column in df.columns:
            return column
    numeric = [c for c in df.columns if c != "workers" and pd.api.types.is_numeric_dtype(df[c])]
    hint = (
        " (sweep() gives speedup only for a closed workload, Batch() arrivals)"
        if metric == "speedup"
        else ""
    )
    raise ValueError(f"df has no column for metric {metric!r}{hint}; it can plot {numeric}")


def _metric_label(column: str) -> str:
    if column == "speedup":
        return column
    if column.startswith(("throughput", "goodput")):
        return f"{column.removesuffix('_jobs_s')} (jobs/s)"
    return f"{column.removesuffix('_s')} (s)" if column != "utilisation" else column


def scaling(
    df: pd.DataFrame,
    ax: Axes | None = None,
    *,
    metric: str | None = None,
    by: str | None = None,
    ci: float = 0.95,
) -> Axes:
    """A metric against the number of workers; for speedup and throughput with the ideal
    linear line.

    ``df`` holds rows with a ``workers`` column: :func:`jobsim.sweep` output or benchmark rows.
    ``metric`` is any numeric column (``"speedup"``, ``"throughput"``, ``"latency_p99"``,
    ``"wait_p95"``, ``"utilisation"``, ...; a benchmark row's ``_s`` / ``_jobs_s`` suffix may be
    left out); default: speedup when the column exists, else throughput. Several rows per
    worker count (repeats) are drawn as the median with a bootstrap ``ci`` confidence
    interval as error bars. ``by`` names a column (e.g. ``"backend"``, ``"store"``) to draw
    one line per value. For speedup and throughput, the ideal line scales the median at the
    fewest workers linearly: what perfect parallelism would give.
    """
    if metric is None:
        metric = "speedup" if "speedup" in df.columns else "throughput"
    _require(df, "df", ["workers"] + ([by] if by else []))
    column = _metric_column(df, metric)
    if not 0 < ci < 1:
        raise ValueError(f"ci must be strictly between 0 and 1 (e.g. 0.95), got {ci!r}")
    data = df.dropna(subset=["workers", column])
    if data.empty:
        raise ValueError(f"df has no rows with both 'workers' and '{column}'")

    ax = _axes(ax)
    rng = np.random.default_rng(0)
    groups = data.groupby(by, sort=True) if by else [(None, data)]
    base_workers = float(data["workers"].min())
    base_values: list[float] = []
    for key, group in groups:
        rows = []
        for _, cell in group.groupby("workers", sort=True):
            workers = float(cell["workers"].to_numpy(float)[0])
            rows.append((workers, *_median_ci(cell[column].to_numpy(float), ci, rng)))
        x, med, low, high = (np.array(v) for v in zip(*rows, strict=True))
        name = str(key[0] if isinstance(key, tuple) else key)
        label = f"{by} = {name}" if by else "measured"
        ax.errorbar(
            x,
            med,
            yerr=[med - low, high - med],
            marker="o",
            capsize=4,
            label=f"{label} (median, {ci:.0%} CI)" if len(group) > len(rows) else label,
        )
        if x[0] == base_workers:
            base_values.append(float(med[0]))

    workers_axis = np.unique(data["workers"].to_numpy(float))
    if column in _LINEAR:
        base = float(np.median(base_values)) if base_values else 1.0
        ax.plot(
            workers_axis,
            base * workers_axis / base_workers,
            linestyle="--",
            color="0.4",
            label="ideal (linear)",
        )
    if len(workers_axis) <= 12:
        ax.set_xticks(workers_axis)
    ax.set_xlabel("workers")
    if column == "speedup":
        unit = "worker" if base_workers == 1 else "workers"
        ax.set_ylabel(f"speedup (× throughput with {base_workers:g} {unit})")
        ax.set_title("Speedup vs number of workers")
    else:
        label = _metric_label(column)
        ax.set_ylabel(label)
        ax.set_title(f"{label.split(' (')[0].capitalize()} vs number of workers")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "ideal (linear)")  # ideal last
    ax.legend([handles[i] for i in order], [labels[i] for i in order])
    return ax


# --- timeline ---------------------------------------------------------------------------------


def timeline(jobs: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Gantt chart of a run: one row per worker, one bar per job from started to finished.

    Bars are coloured by ``status`` (legend). Jobs that never started (no ``worker_id`` or
    ``started``) have no bar; a job still running (no ``finished``) is drawn up to the last
    time in the frame, so a job stuck ``processing`` after a bad shutdown stands out.
    """
    _require(jobs, "jobs", ["worker_id", "status", "started", "finished"])
    ran = jobs.dropna(subset=["worker_id", "started"])
    if ran.empty:
        raise ValueError("jobs has no job with a worker_id and a started time to draw")
    end = float(np.nanmax(ran[["started", "finished"]].to_numpy(float)))
    workers = sorted(ran["worker_id"].unique(), key=_natural_key)
    row: dict[object, int] = {w: i for i, w in enumerate(workers)}
    statuses = ran["status"].map(_status_name)

    ax = _axes(ax)
    fallback = iter(plt.get_cmap("tab10").colors[5:])  # type: ignore[attr-defined]
    colours = dict(STATUS_COLOURS)
    seen: list[str] = []
    height = 0.8
    for (worker, status_key), group in ran.groupby([ran["worker_id"], statuses], sort=False):
        status = str(status_key)
        if status not in colours:
            colours[status] = next(fallback, "black")
        if status not in seen:
            seen.append(status)
        start = group["started"].to_numpy(float)
        stop = group["finished"].fillna(end).to_numpy(float)
        ax.broken_barh(
            list(zip(start, stop - start, strict=True)),
            (row[worker] - height / 2, height),
            facecolors=colours[status],
            edgecolor="white",
            linewidth=0.5,
        )
    ax.set_yticks(range(len(workers)), [str(w) for w in workers])
    ax.set_ylim(len(workers) - 0.5, -0.5)  # first worker on top
    ax.set_xlabel("time (s)")
    ax.set_ylabel("worker")
    ax.set_title(f"Jobs per worker over time ({len(ran)} jobs, {len(workers)} workers)")
    ax.grid(True, axis="x", alpha=0.3)
    order = [s for s in STATUS_COLOURS if s in seen] + [s for s in seen if s not in STATUS_COLOURS]
    ax.legend(
        handles=[Patch(color=colours[s], label=s) for s in order],
        title="status",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    return ax


# --- latency CDF ------------------------------------------------------------------------------


def latency_cdf(
    jobs: pd.DataFrame,
    ax: Axes | None = None,
    column: str = "latency",
    *,
    label: str | None = None,
    percentiles: Sequence[float] = (50, 95, 99),
) -> Axes:
    """Empirical CDF of a seconds column (default ``latency``) with its percentiles marked.

    Each of ``percentiles`` gets a vertical line labelled with its value. Call it again with
    the same ``ax=`` and a ``label`` to overlay another run.
    """
    _require(jobs, "jobs", [column])
    values = np.sort(jobs[column].dropna().to_numpy(float))
    if values.size == 0:
        raise ValueError(f"jobs has no values in column {column!r} to draw")
    if any(not 0 < p < 100 for p in percentiles):
        raise ValueError(f"percentiles must be between 0 and 100, got {list(percentiles)}")

    ax = _axes(ax)
    fraction = np.arange(1, values.size + 1) / values.size
    (line,) = ax.step(
        np.concatenate([[values[0]], values]),
        np.concatenate([[0.0], fraction]),
        where="post",
        label=label or f"{column} (n = {values.size})",
    )
    styles = [":", "--", "-.", (0, (1, 4))]
    for i, (p, x) in enumerate(zip(percentiles, np.percentile(values, percentiles), strict=True)):
        ax.axvline(
            x,
            color=line.get_color(),
            linestyle=styles[i % len(styles)],
            alpha=0.7,
            label=f"p{p:g} = {x:.3g} s",
        )
    ax.set_xlabel(f"{column} (s)")
    ax.set_ylabel(f"fraction of jobs with {column} ≤ x")
    ax.set_title(f"Empirical CDF of job {column}")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return ax


# --- queue depth ------------------------------------------------------------------------------


def queue_depth(series: pd.DataFrame, ax: Axes | None = None, *, label: str | None = None) -> Axes:
    """Step plot of the number of queued jobs over time (``time``, ``depth`` columns).

    The depth holds its value until the next sample (a step, not a line). Pass ``label`` (and
    the same ``ax=``) to overlay several runs with a legend.
    """
    _require(series, "series", ["time", "depth"])
    data = series.dropna(subset=["time", "depth"]).sort_values("time", kind="stable")
    if data.empty:
        raise ValueError("series has no rows with both 'time' and 'depth' to draw")
    time = data["time"].to_numpy(float)
    depth = data["depth"].to_numpy(float)

    ax = _axes(ax)
    (line,) = ax.step(time, depth, where="post", label=label or "queue depth")
    ax.fill_between(time, depth, step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("time (s)")
    ax.set_ylabel("queue depth (jobs)")
    ax.set_title("Queue depth over time")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if label is not None:
        ax.legend()
    return ax


# --- shutdown sequence ------------------------------------------------------------------------


def shutdown_sequence(events: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Who stopped when: one row per actor, a numbered, labelled marker per event.

    ``events`` has columns ``time``, ``actor``, ``event`` (in the order they happened; the
    numbers give that order even when times tie). Problems (a boolean ``problem`` column, or
    else an event text mentioning an error, a lost or stuck job, a panic) get a red cross.
    """
    _require(events, "events", ["time", "actor", "event"])
    if events.empty:
        raise ValueError("events has no rows to draw")
    data = events.reset_index(drop=True)
    if "problem" in data.columns:
        problem = data["problem"].fillna(False).astype(bool).to_numpy()
    else:
        problem = data["event"].astype(str).str.contains(PROBLEM_PATTERN).to_numpy()
    actors = list(dict.fromkeys(data["actor"].astype(str)))  # order of first appearance
    row = {a: i for i, a in enumerate(actors)}
    tab10 = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
    colours = [c for i, c in enumerate(tab10) if i != 3]  # red is kept for problems

    ax = _axes(ax)
    times = data["time"].to_numpy(float)
    for actor in actors:
        mine = times[(data["actor"].astype(str) == actor).to_numpy()]
        ax.hlines(row[actor], mine.min(), mine.max(), color="0.8", linewidth=2, zorder=1)
    per_actor: dict[str, int] = {}
    for i, rec in enumerate(data.itertuples(index=False)):
        actor = str(rec.actor)
        y = row[actor]
        colour = "tab:red" if problem[i] else colours[y % len(colours)]
        ax.plot(
            times[i],
            y,
            marker="X" if problem[i] else "o",
            markersize=10 if problem[i] else 7,
            color=colour,
            zorder=3,
        )
        k = per_actor.get(actor, 0)
        per_actor[actor] = k + 1
        ax.annotate(
            f"{i + 1}. {rec.event}",
            (times[i], y),
            xytext=(4, 9 if k % 2 == 0 else -15),  # alternate above/below: ties stay legible
            textcoords="offset points",
            fontsize=8,
            color="tab:red" if problem[i] else "black",
        )
    ax.set_yticks(range(len(actors)), actors)
    ax.set_ylim(len(actors) - 0.4, -0.6)  # first actor on top, room for labels
    ax.margins(x=0.2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("actor")
    ax.set_title("Shutdown sequence: who stopped when")
    ax.grid(True, axis="x", alpha=0.3)
    if problem.any():
        ax.legend(
            handles=[
                Line2D([], [], marker="o", linestyle="", color="0.3", label="event"),
                Line2D([], [], marker="X", linestyle="", color="tab:red", label="problem"),
            ],
            loc="best",
        )
    return ax


# --- animation (its own room: jobsim.animation, imported on first use) -------------------------


def __getattr__(name: str) -> Any:
    """``animate`` and ``RunAnimation`` live in :mod:`jobsim.animation`; loaded on first use."""
    if name in ("animate", "RunAnimation"):
        from jobsim import animation

        return getattr(animation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
