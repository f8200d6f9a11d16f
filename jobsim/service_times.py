"""Service times: how long one attempt of a job takes, drawn up front by a seeded generator.

:class:`Constant` (M/D/c), :class:`Uniform`, :class:`Exponential` (M/M/c), :class:`LogNormal`
(heavy tails) and :class:`Empirical` (resampled measurements); each has a ``mean`` and
``sample(n, rng)``. Re-exported by :mod:`jobsim.workload`, where they are usually imported from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jobsim import checks

__all__ = ["Constant", "Empirical", "Exponential", "LogNormal", "ServiceTime", "Uniform"]


class ServiceTime(Protocol):
    """How long one attempt takes: ``sample(n, rng)`` seconds, and the ``mean``."""

    @property
    def mean(self) -> float: ...

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class Constant:
    """Every job takes exactly ``value`` seconds (M/D/c)."""

    value: float

    def __post_init__(self) -> None:
        checks.positive("Constant.value", self.value, allow_zero=True)

    @property
    def mean(self) -> float:
        return float(self.value)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, float(self.value))


@dataclass(frozen=True)
class Uniform:
    """Uniform between ``low`` and ``high`` seconds."""

    low: float
    high: float

    def __post_init__(self) -> None:
        checks.positive("Uniform.low", self.low, allow_zero=True)
        checks.positive("Uniform.high", self.high, allow_zero=True)
        if self.high < self.low:
            raise ValueError(f"Uniform needs low <= high, got low={self.low}, high={self.high}")

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Exponential:
    """Exponential with the given ``mean`` seconds (M/M/c)."""

    mean: float

    def __post_init__(self) -> None:
        checks.positive("Exponential.mean", self.mean)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.exponential(self.mean, n)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal with the given ``mean`` seconds and log-space ``sigma`` (heavy tails)."""

    mean: float
    sigma: float = 1.0

    def __post_init__(self) -> None:
        checks.positive("LogNormal.mean", self.mean)
        checks.positive("LogNormal.sigma", self.sigma, allow_zero=True)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        mu = math.log(self.mean) - self.sigma**2 / 2  # so that E[X] == mean
        return rng.lognormal(mu, self.sigma, n)


@dataclass(frozen=True)
class Empirical:
    """Resample (with replacement) from measured service times, e.g. from production logs."""

    samples: Sequence[float]

    def __post_init__(self) -> None:
        values = np.asarray(self.samples, dtype=float)
        if values.ndim != 1 or values.size == 0:
            raise ValueError("Empirical.samples must be a non-empty sequence of seconds")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("Empirical.samples must all be finite numbers >= 0")
        object.__setattr__(self, "samples", tuple(values.tolist()))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(np.asarray(self.samples), n)
