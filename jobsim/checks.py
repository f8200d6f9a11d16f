"""Argument checks shared by every room: one wording for "what was wrong, what is allowed".

Each check returns the value it accepted (a float for numbers), so callers can write
``self.rate = checks.positive("Poisson.rate", rate)``. Leaf module: standard library only.
"""

from __future__ import annotations

import math

__all__ = ["count", "non_negative", "positive", "seconds"]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def count(name: str, value: object, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (booleans are not counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    ok = _is_number(value) and math.isfinite(value)  # type: ignore[arg-type]
    ok = ok and (value >= 0 if allow_zero else value > 0)  # type: ignore[operator]
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def non_negative(name: str, value: object) -> float:
    """A finite number ``>= 0``."""
    return positive(name, value, allow_zero=True)


def seconds(name: str, value: object) -> float | None:
    """A positive, finite number of seconds, or None (no limit)."""
    if value is None:
        return None
    if not _is_number(value) or not value > 0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    if not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)  # type: ignore[arg-type]
