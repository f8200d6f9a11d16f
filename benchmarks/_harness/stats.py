"""Statistics over repeats: medians with 95% percentile-bootstrap intervals, per configuration,
and the readable table the CLI prints."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._harness.measure import BASE_COLUMNS, ENV_COLUMNS

__all__ = [
    "CONFIG_SECONDS",
    "METRICS",
    "bootstrap_ci",
    "format_summary",
    "identity_columns",
    "metric_columns",
    "summarize",
]

#: Measured quantities: summarised (median + CI) rather than grouped on.
METRICS: tuple[str, ...] = (
    *BASE_COLUMNS[BASE_COLUMNS.index("makespan_s") :],
    "ratio",
    "ratio_vs_asyncio_bare",
    "wall_s",
)


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
