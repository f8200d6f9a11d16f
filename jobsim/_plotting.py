"""What every lab figure shares: the status colours, the Axes to draw into, column checks and
the natural sort of worker names. A leaf under :mod:`jobsim.plot` and :mod:`jobsim.animation`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["STATUS_COLOURS"]

#: Colours for job statuses, so every timeline uses the same legend.
STATUS_COLOURS: dict[str, str] = {
    "completed": "tab:green",
    "failed": "tab:red",
    "processing": "tab:orange",
    "pending": "tab:blue",
    "cancelled": "tab:gray",
}


def _axes(ax: Axes | None) -> Axes:
    """The Axes to draw into: the caller's, or a fresh figure's."""
    if ax is not None:
        return ax
    _, new_ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    return new_ax


def _require(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    """Raise ValueError naming the frame, the missing columns and the columns it has."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {missing}; it needs {list(columns)} "
            f"(it has {list(frame.columns)})"
        )


def _natural_key(value: object) -> list[Any]:
    """Sort "worker-2" before "worker-10"."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(value))]


def _status_name(value: object) -> str:
    return str(getattr(value, "value", value))
