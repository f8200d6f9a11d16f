"""Plots of tidy benchmark rows: scaling curves (throughput, speedup with the ideal line,
efficiency, latency percentiles) against the worker count, and bar charts per variant.
Medians over repeats with 95% bootstrap error bars. Matplotlib is imported lazily with the
Agg backend (a CLI: no display needed)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._harness.stats import bootstrap_ci, identity_columns

__all__ = ["plot_bars", "plot_scaling", "pyplot"]


def pyplot() -> Any:
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
    plt = pyplot()
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
        jobsim_plot.scaling(data, ax=ax, metric=metric, by=by)
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
    plt = pyplot()
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
