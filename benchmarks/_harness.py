"""Shared machinery for the benchmark suites and the CLI.

* :func:`batch_run` runs one batch of pre-built jobs through a :class:`~jobsim.WorkerPool` and
  measures it from the store's own timestamps (one clock per run: the loop's).
* :func:`run_plan` runs a plan of configurations ``repeat`` times (interleaved, after one
  discarded warm-up run) under a tqdm progress bar and returns tidy rows.
* :func:`summarize` turns tidy rows into medians with 95% bootstrap confidence intervals.
* :func:`plot_scaling` draws throughput, speedup (with the ideal line), efficiency and latency
  percentiles against the worker count.
* :func:`environment` / :func:`append_csv` record where and when the figures were taken.

Matplotlib is imported lazily with the Agg backend (this is a CLI; no display needed).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
    "METRICS",
    "append_csv",
    "batch_run",
    "bootstrap_ci",
    "environment",
    "format_summary",
    "plot_scaling",
    "run_plan",
    "summarize",
]

#: Columns every suite fills where they apply (issue 4), in this order.
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

#: Measured quantities: summarised (median + CI) rather than grouped on.
METRICS: tuple[str, ...] = (
    "makespan_s",
    "throughput_jobs_s",
    "speedup",
    "efficiency",
    "wait_p50_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ratio",
    "ratio_vs_asyncio_bare",
    "wall_s",
)

#: Added by the harness to every row.
ENV_COLUMNS: tuple[str, ...] = ("python", "cpu_count", "jobsim_version", "platform", "timestamp")


# -- environment & output ----------------------------------------------------------------------


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


# -- one batch run -------------------------------------------------------------------------------


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
    the seed (100 jobs, capacity 100), so nobody waits on backpressure.
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


# -- statistics -----------------------------------------------------------------------------------


def bootstrap_ci(
    values: Iterable[float], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median.

    Distribution-free and honest about small samples: with 3 repeats it is close to the
    min-max range (the median of 3 resampled values can only be one of the 3). NaN for
    fewer than 2 values; a zero-width interval when every value is equal (virtual time).
    """
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(data) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    samples = rng.choice(data, size=(resamples, len(data)), replace=True)
    medians = np.median(samples, axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


#: Numeric ``*_s`` columns that describe a configuration rather than measure it.
CONFIG_SECONDS: frozenset[str] = frozenset({"duration_s", "mean_service_s"})


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Measured columns: :data:`METRICS`, plus any other suite's numeric ``*_s`` or ``*ratio``
    column (e.g. ``run_wall_s``, ``cpu_ratio``) except :data:`CONFIG_SECONDS`."""
    out = []
    for c in frame.columns:
        if c in METRICS or (
            c not in CONFIG_SECONDS
            and c not in ENV_COLUMNS
            and (c.endswith("_s") or c.endswith("ratio"))
            and pd.api.types.is_numeric_dtype(frame[c])
        ):
            out.append(c)
    return out


def identity_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that identify a configuration: everything but metrics, repeat and env."""
    skip = set(metric_columns(frame)) | set(ENV_COLUMNS) | {"repeat", "jobs"}
    return [c for c in frame.columns if c not in skip and frame[c].notna().any()]


def summarize(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per configuration: ``n`` repeats and, per metric, ``median``, ``ci_lo``,
    ``ci_hi`` (95% bootstrap CI of the median)."""
    keys = identity_columns(frame)
    wanted = [
        m
        for m in (metrics or metric_columns(frame))
        if m in frame.columns and frame[m].notna().any()
    ]
    rows = []
    for ident, group in frame.groupby(keys, dropna=False, sort=False):
        ident_t = ident if isinstance(ident, tuple) else (ident,)
        row: dict[str, Any] = dict(zip(keys, ident_t, strict=True))
        row["n"] = len(group)
        if "jobs" in group:
            row["jobs"] = group["jobs"].iloc[0]
        for m in wanted:
            values = group[m].astype(float)
            lo, hi = bootstrap_ci(values)
            row[f"{m}_median"] = float(values.median())
            row[f"{m}_ci_lo"] = lo
            row[f"{m}_ci_hi"] = hi
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1 or round(magnitude, 3) >= 1:  # 0.99999 prints as 1.00, not 1
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_summary(summary: pd.DataFrame, metrics: Sequence[str] | None = None) -> str:
    """A readable table: ``median [ci_lo, ci_hi]`` per metric, one line per configuration."""
    if summary.empty:
        return "(no rows)"
    names = [c[: -len("_median")] for c in summary.columns if c.endswith("_median")]
    if metrics is not None:
        names = [m for m in metrics if m in names]
    keys = [
        c
        for c in summary.columns
        if not c.endswith(("_median", "_ci_lo", "_ci_hi")) and c != "suite"
    ]
    table = summary[keys].copy()
    for m in names:
        med, lo, hi = summary[f"{m}_median"], summary[f"{m}_ci_lo"], summary[f"{m}_ci_hi"]
        table[m] = [
            _fmt(a) if math.isnan(b) else f"{_fmt(a)} [{_fmt(b)}, {_fmt(c)}]"
            for a, b, c in zip(med, lo, hi, strict=True)
        ]
    return table.to_string(index=False)


# -- plots ----------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _series(frame: pd.DataFrame, series: Sequence[str]) -> Iterable[tuple[str, pd.DataFrame]]:
    cols = [c for c in series if c in frame.columns]
    if not cols:
        yield "", frame
        return
    for key, group in frame.groupby(cols, dropna=False, sort=False):
        key_t = key if isinstance(key, tuple) else (key,)
        yield " ".join(str(k) for k in key_t if not _missing(k)), group


def plot_scaling(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    prefix: str,
    series: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``<prefix>_throughput.png`` and ``_speedup.png`` (via :func:`jobsim.plot.scaling`,
    with the ideal linear line), ``_efficiency.png`` and ``_latency.png`` (p50/p95/p99):
    medians over repeats with 95% CI error bars, one line per ``series`` group."""
    plt = _pyplot()
    from jobsim import plot as jobsim_plot

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def stats(group: pd.DataFrame, metric: str) -> pd.DataFrame:
        rows = []
        for w, g in group.groupby("workers"):
            vals = g[metric].astype(float)
            lo, hi = bootstrap_ci(vals)
            med = float(vals.median())
            rows.append(
                (
                    w,
                    med,
                    med - lo if not math.isnan(lo) else 0.0,
                    hi - med if not math.isnan(hi) else 0.0,
                )
            )
        return pd.DataFrame(rows, columns=["workers", "median", "err_lo", "err_hi"])

    def line(ax: Any, group: pd.DataFrame, metric: str, label: str, **kw: Any) -> None:
        if metric not in group or not group[metric].notna().any():
            return
        s = stats(group, metric)
        ax.errorbar(
            s["workers"],
            s["median"],
            yerr=[s["err_lo"], s["err_hi"]],
            marker="o",
            capsize=3,
            label=label,
            **kw,
        )

    def finish(fig: Any, ax: Any, name: str, ylabel: str, title: str) -> None:
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.set_xticks(sorted(frame["workers"].unique()))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("workers")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        path = out_dir / f"{prefix}_{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    if series is None:  # one line per combination of the columns that vary (but workers)
        series = [c for c in identity_columns(frame) if c != "workers" and frame[c].nunique() > 1]
    groups = list(_series(frame, series))
    by_name = " ".join(series) or "series"
    labelled = pd.concat(
        [g.assign(**{by_name: label or "measured"}) for label, g in groups], ignore_index=True
    )
    by = by_name if len(groups) > 1 else None
    for metric, name in (("throughput", "throughput"), ("speedup", "speedup")):
        column = "throughput_jobs_s" if metric == "throughput" else "speedup"
        if column not in labelled.columns:
            continue
        data = labelled.dropna(subset=[column])
        if data.empty:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        # jobsim.plot.scaling: medians, bootstrap 95% CI error bars and the ideal linear line.
        jobsim_plot.scaling(data, ax=ax, metric=metric, by=by)  # type: ignore[arg-type]
        legend = ax.get_legend()
        if legend is not None:
            plt.setp(legend.get_texts(), fontsize="x-small")
        values = data[column].astype(float)
        if values.min() > 0 and values.max() / values.min() > 50:  # e.g. stores: 1e3..1e6
            ax.set_yscale("log")
            ax.set_ylim(values.min() / 2, values.max() * 3)
        ax.set_title(f"{prefix}: {ax.get_title().lower()}")
        path = out_dir / f"{prefix}_{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    def has(column: str) -> bool:
        return column in frame.columns and bool(frame[column].notna().any())

    if has("efficiency"):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
        for label, group in groups:
            line(ax, group, "efficiency", label)
        ax.set_ylim(bottom=0)
        finish(fig, ax, "efficiency", "efficiency (speedup / workers)", f"{prefix}: efficiency")

    if has("latency_p50_s"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, group in groups:
            for metric, style in (
                ("latency_p50_s", "-"),
                ("latency_p95_s", "--"),
                ("latency_p99_s", ":"),
            ):
                tag = metric.split("_")[1]
                line(ax, group, metric, f"{label} {tag}".strip(), linestyle=style)
        ax.set_yscale("log")
        finish(fig, ax, "latency", "latency (s, submit to done)", f"{prefix}: latency percentiles")
    return written


def plot_bars(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    prefix: str,
    metric: str,
    by: Sequence[str],
    ylabel: str,
    title: str,
) -> list[Path]:
    """A bar chart of ``metric`` medians (95% CI error bars) per ``by`` group:
    ``<prefix>_<metric short name>.png``."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels, meds, errs_lo, errs_hi = [], [], [], []
    for key, group in frame.groupby(list(by), dropna=False, sort=False):
        key_t = key if isinstance(key, tuple) else (key,)
        vals = group[metric].astype(float)
        lo, hi = bootstrap_ci(vals)
        med = float(vals.median())
        labels.append("\n".join(str(k) for k in key_t))
        meds.append(med)
        errs_lo.append(0.0 if math.isnan(lo) else med - lo)
        errs_hi.append(0.0 if math.isnan(hi) else hi - med)
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(labels)), 4))
    ax.bar(range(len(labels)), meds, yerr=[errs_lo, errs_hi], capsize=4, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, fontsize="small")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path = out_dir / f"{prefix}_{metric.split('_')[0]}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]
