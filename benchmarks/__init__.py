"""jobsim benchmarks: ``python -m benchmarks [suite ...]``.

Suites are modules (``from benchmarks import scaling``) whose ``run(...)``
returns a tidy :class:`pandas.DataFrame`, one row per run; the harness adds
environment columns, medians with 95% confidence intervals, a CSV and plots.
"""

from __future__ import annotations

from benchmarks.suites import DEFAULT_SUITES, SUITES

__all__ = ["DEFAULT_SUITES", "SUITES"]
