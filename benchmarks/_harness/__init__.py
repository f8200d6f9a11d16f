"""What the benchmark suites share, one room per job:

* :mod:`~benchmarks._harness.options`: :class:`Options`, the one options object every suite's
  ``run(...)`` takes;
* :mod:`~benchmarks._harness.measure`: batch runs through a real pool, plans of repeated
  configurations, environment columns and the CSV;
* :mod:`~benchmarks._harness.stats`: medians with bootstrap intervals and the printed table;
* :mod:`~benchmarks._harness.plots`: scaling curves and bar charts (matplotlib, lazily).
"""

from __future__ import annotations

from benchmarks._harness.measure import (
    BASE_COLUMNS,
    ENV_COLUMNS,
    Step,
    add_speedup,
    append_csv,
    batch_run,
    environment,
    order_columns,
    percentile_columns,
    run_plan,
    with_environment,
)
from benchmarks._harness.options import Options
from benchmarks._harness.plots import plot_bars, plot_scaling, pyplot
from benchmarks._harness.stats import (
    CONFIG_SECONDS,
    METRICS,
    bootstrap_ci,
    format_summary,
    identity_columns,
    metric_columns,
    summarize,
)

__all__ = [
    "BASE_COLUMNS",
    "CONFIG_SECONDS",
    "ENV_COLUMNS",
    "METRICS",
    "Options",
    "Step",
    "add_speedup",
    "append_csv",
    "batch_run",
    "bootstrap_ci",
    "environment",
    "format_summary",
    "identity_columns",
    "metric_columns",
    "order_columns",
    "percentile_columns",
    "plot_bars",
    "plot_scaling",
    "pyplot",
    "run_plan",
    "summarize",
    "with_environment",
]
