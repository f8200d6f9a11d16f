"""Load that changes over time: arrivals whose rate follows a curve, or recorded times.

:class:`Piecewise`, :class:`Sinusoid` and :class:`Spike` are non-homogeneous Poisson
processes: independent arrivals whose rate ``rate(t)`` varies, drawn by thinning (candidates
at the peak rate, each kept with probability ``rate(t) / max_rate``), seeded like every draw of a
:class:`~jobsim.Workload`. Each also gives ``expected(t0, t1)``, the integral of its rate:
the mean number of arrivals in a window, for checking a run against the model.
:class:`Trace` replays recorded arrival times exactly. All are arrivals for a ``Workload``::

    Workload(200_000, Sinusoid(mean=2.3, amplitude=2.0, period=86_400), Exponential(1.0))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jobsim import checks

__all__ = ["Piecewise", "RateCurve", "Sinusoid", "Spike", "Trace"]


class RateCurve:
    """Arrivals from a rate curve (a base for the classes below): ``rate(t)`` jobs per second,
    at most ``max_rate``; ``times(n, rng)`` draws the first ``n`` arrivals by thinning."""

    max_rate: float

    def rate(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def expected(self, t0: float, t1: float) -> float:
        """The mean number of arrivals in ``[t0, t1)``: the integral of the rate."""
        raise NotImplementedError

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        kept: list[np.ndarray] = []
        found, start = 0, 0.0
        while found < n:
            # Enough candidates for the rest on average, plus a margin; a few rounds at most.
            chunk = max(
                1024, int(1.2 * (n - found) * self.max_rate / max(self._mean_rate(), 1e-12))
            )
            candidates = start + np.cumsum(rng.exponential(1.0 / self.max_rate, chunk))
            keep = rng.random(chunk) * self.max_rate < self.rate(candidates)
            kept.append(candidates[keep])
            found += int(keep.sum())
            start = float(candidates[-1])
        return np.concatenate(kept)[:n] if kept else np.zeros(0)

    def _mean_rate(self) -> float:
        return self.max_rate


def _rate(owner: str, value: float, *, allow_zero: bool = True) -> float:
    return checks.positive(f"{owner} rate", value, allow_zero=allow_zero)


@dataclass(frozen=True)
class Piecewise(RateCurve):
    """A rate that steps: ``Piecewise([(0, 2.0), (3600, 8.0), (7200, 2.0)])`` is 2 jobs/s for
    an hour, 8 for the next, then 2 again (the last rate holds for ever)."""

    steps: Sequence[tuple[float, float]]
    max_rate: float = field(init=False)

    def __post_init__(self) -> None:
        steps = [(float(t), float(r)) for t, r in self.steps]
        if not steps or steps[0][0] != 0:
            raise ValueError(
                "Piecewise needs (time, rate) steps starting at time 0, e.g. [(0, 2.0), (60, 8.0)]"
            )
        for (t0, _), (t1, _) in itertools.pairwise(steps):
            if not t1 > t0:
                raise ValueError(f"Piecewise times must increase, got {t1:g} after {t0:g}")
        for _, r in steps:
            _rate("Piecewise", r)
        if not steps[-1][1] > 0:
            raise ValueError("Piecewise: the last rate must be > 0, or the jobs never all arrive")
        object.__setattr__(self, "steps", tuple(steps))
        object.__setattr__(self, "max_rate", max(r for _, r in steps))

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([t for t, _ in self.steps]), np.array([r for _, r in self.steps])

    def rate(self, t: np.ndarray) -> np.ndarray:
        starts, rates = self._arrays()
        return rates[np.searchsorted(starts, t, side="right") - 1]

    def expected(self, t0: float, t1: float) -> float:
        starts, rates = self._arrays()
        ends = np.append(starts[1:], math.inf)
        overlap = np.clip(np.minimum(ends, t1) - np.maximum(starts, t0), 0, None)
        return float((overlap * rates).sum())

    def _mean_rate(self) -> float:
        return float(np.mean([r for _, r in self.steps]))


@dataclass(frozen=True)
class Sinusoid(RateCurve):
    """A daily (or any) cycle: ``rate(t) = mean + amplitude * sin(2 pi t / period + phase)``,
    with ``0 <= amplitude <= mean``. ``phase=-pi/2`` starts at the trough."""

    mean: float
    amplitude: float
    period: float
    phase: float = 0.0
    max_rate: float = field(init=False)

    def __post_init__(self) -> None:
        checks.positive("Sinusoid.mean", self.mean)
        checks.non_negative("Sinusoid.amplitude", self.amplitude)
        checks.positive("Sinusoid.period", self.period)
        if self.amplitude > self.mean:
            raise ValueError(
                f"Sinusoid.amplitude must be <= mean ({self.mean:g}) so the rate never goes "
                f"negative, got {self.amplitude!r}"
            )
        object.__setattr__(self, "max_rate", float(self.mean + self.amplitude))

    def _angle(self, t: Any) -> Any:
        return 2 * np.pi * np.asarray(t) / self.period + self.phase

    def rate(self, t: np.ndarray) -> np.ndarray:
        return self.mean + self.amplitude * np.sin(self._angle(t))

    def expected(self, t0: float, t1: float) -> float:
        swing = self.amplitude * self.period / (2 * np.pi)
        return float(
            self.mean * (t1 - t0) - swing * (np.cos(self._angle(t1)) - np.cos(self._angle(t0)))
        )

    def _mean_rate(self) -> float:
        return self.mean


@dataclass(frozen=True)
class Spike(RateCurve):
    """``base`` jobs per second, except ``peak`` during ``[at, at + duration)``."""

    base: float
    peak: float
    at: float
    duration: float
    max_rate: float = field(init=False)

    def __post_init__(self) -> None:
        checks.positive("Spike.base", self.base)
        checks.non_negative("Spike.peak", self.peak)
        checks.non_negative("Spike.at", self.at)
        checks.positive("Spike.duration", self.duration)
        object.__setattr__(self, "max_rate", float(max(self.base, self.peak)))

    def rate(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t)
        inside = (t >= self.at) & (t < self.at + self.duration)
        return np.where(inside, self.peak, self.base)

    def expected(self, t0: float, t1: float) -> float:
        inside = max(0.0, min(t1, self.at + self.duration) - max(t0, self.at))
        return self.base * (t1 - t0 - inside) + self.peak * inside

    def _mean_rate(self) -> float:
        return self.base


@dataclass(frozen=True, eq=False)
class Trace:
    """Replay recorded arrival times (seconds, non-decreasing): a list, an array, a pandas
    Series, or a CSV column (:meth:`from_csv`). ``relative=True`` shifts them so the first
    arrives at 0 (for timestamps)."""

    recorded: Any
    relative: bool = False
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            values = np.asarray(self.recorded, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ValueError(
                f"Trace needs numbers (seconds), got {type(self.recorded).__name__}"
            ) from None
        if values.size == 0:
            raise ValueError("Trace needs at least one arrival time")
        if not np.isfinite(values).all():
            raise ValueError("Trace times must be finite numbers (no NaN or infinity)")
        if (np.diff(values) < 0).any():
            raise ValueError("Trace times must be non-decreasing (sort them first)")
        if self.relative:
            values = values - values[0]
        if values[0] < 0:
            raise ValueError(f"Trace times must be >= 0, got {values[0]!r} (or relative=True)")
        object.__setattr__(self, "offsets", values)

    def __repr__(self) -> str:
        return f"Trace({len(self.offsets)} arrivals over {self.offsets[-1]:g} s)"

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def from_csv(cls, path: str | Path, column: str, *, relative: bool = False) -> Trace:
        """Arrival times from one column of a CSV file."""
        import pandas as pd

        frame = pd.read_csv(path, usecols=[column])
        return cls(frame[column].to_numpy(), relative=relative)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n > len(self.offsets):
            raise ValueError(
                f"Trace has {len(self.offsets)} arrival times, fewer than the {n} jobs asked for; "
                f"use Workload({len(self.offsets)}, ...)"
            )
        return self.offsets[:n].copy()
