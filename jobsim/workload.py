"""Workloads: when jobs arrive, how long each takes, what kind of work it is, how often it fails.

A :class:`Workload` is a recipe; :meth:`Workload.plan` turns it into concrete, seeded numbers
(arrival times, service times, failure draws), so the same seed gives the same run on any clock
and backend::

    Workload(100, Batch(), Constant(1.0))                      # 100 jobs x 1 s, all at once
    Workload(50_000, Poisson(8.0), Exponential(1.0), seed=1)   # M/M/c
    Workload(8, Batch(), Constant(0.1), kind="cpu-process")    # CPU-bound, real clock only
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal, Protocol

import numpy as np

from jobsim import checks
from jobsim.domain import JobsimError, check_priority, check_ttl
from jobsim.service_times import (  # the service-time vocabulary, re-exported
    Constant,
    Empirical,
    Exponential,
    LogNormal,
    ServiceTime,
    Uniform,
)

__all__ = [
    "Arrivals",
    "Batch",
    "Bursts",
    "Constant",
    "Empirical",
    "Exponential",
    "JobClass",
    "JobKind",
    "LogNormal",
    "Periodic",
    "Piecewise",
    "Plan",
    "Poisson",
    "ServiceTime",
    "SimulatedFailure",
    "Sinusoid",
    "Spike",
    "Trace",
    "Uniform",
    "Workload",
    "parse_arrivals",
    "parse_service",
    "spin",
    "spins_for",
]

JobKind = Literal["sleep", "cpu-thread", "cpu-process"]
KINDS: tuple[str, ...] = ("sleep", "cpu-thread", "cpu-process")


class SimulatedFailure(JobsimError, RuntimeError):
    """The failure a workload injects into an attempt (``failure_rate``)."""


# -- arrivals -----------------------------------------------------------------------------------


class Arrivals(Protocol):
    """When jobs arrive: ``times(n, rng)`` gives ``n`` non-decreasing offsets in seconds."""

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class Batch:
    """Every job at t = 0 (the original Go service's scenario: a burst, then drain)."""

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(n)


@dataclass(frozen=True)
class Poisson:
    """Independent arrivals at ``rate`` jobs per second (exponential gaps)."""

    rate: float

    def __post_init__(self) -> None:
        checks.positive("Poisson.rate", self.rate)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.cumsum(rng.exponential(1.0 / self.rate, n))


@dataclass(frozen=True)
class Periodic:
    """One job every ``interval`` seconds, the first at t = 0."""

    interval: float

    def __post_init__(self) -> None:
        checks.positive("Periodic.interval", self.interval, allow_zero=True)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.arange(n) * self.interval


@dataclass(frozen=True)
class Bursts:
    """``size`` jobs at once, every ``every`` seconds."""

    size: int
    every: float

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"Bursts.size must be an integer >= 1, got {self.size!r}")
        checks.positive("Bursts.every", self.every)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (np.arange(n) // self.size) * self.every


from jobsim.varying import Piecewise, Sinusoid, Spike, Trace  # noqa: E402  (arrivals too)

# -- the workload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A workload's concrete numbers: ``arrivals[i]``, ``service[i]`` (seconds) and
    ``failures[i][k]``: whether attempt ``k + 1`` of job ``i`` fails. ``classes`` holds one
    :class:`JobClass` per class and ``job_class[i]`` the index of job ``i``'s (one class for
    a :class:`Workload`, several for a :class:`~jobsim.mix.Mix`)."""

    arrivals: list[float]
    service: list[float]
    failures: list[list[bool]]
    classes: tuple[JobClass, ...] = ()
    job_class: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class JobClass:
    """What the jobs of one class share: its name, the job type, priority, ttl, attempts."""

    name: str
    type: str
    priority: int = 0
    ttl: float | None = None
    max_attempts: int = 1


@dataclass(frozen=True)
class Workload:
    """A seeded recipe of jobs.

    Args:
        jobs: how many jobs.
        arrivals: :class:`Batch`, :class:`Poisson`, :class:`Periodic` or :class:`Bursts`.
        service: :class:`Constant`, :class:`Uniform`, :class:`Exponential`,
            :class:`LogNormal` or :class:`Empirical`.
        kind: ``"sleep"`` (I/O-bound: awaits ``anyio.sleep``), ``"cpu-thread"`` (pure-Python
            busy work in ``anyio.to_thread``: the GIL serialises it) or ``"cpu-process"``
            (the same work in ``anyio.to_process``: real parallelism). CPU kinds need the
            real clock.
        failure_rate: probability that an attempt raises :class:`SimulatedFailure`.
        max_attempts: attempts per job (retries follow the pool's ``RetryPolicy``).
        seed: the seed for every random draw.
        priority: every job's ``Job.priority`` (higher runs first under priority dispatch).
        ttl: every job's ``Job.ttl``: seconds it may wait for its first start, else it
            ends ``expired`` (``None``: no limit).
        job_type: every job's ``Job.type`` (default: ``kind``; in a
            :class:`~jobsim.mix.Mix`, the class name).
    """

    jobs: int
    arrivals: Arrivals = field(default_factory=Batch)
    service: ServiceTime = field(default_factory=lambda: Constant(1.0))
    kind: JobKind = "sleep"
    failure_rate: float = 0.0
    max_attempts: int = 1
    seed: int = 0
    priority: int = 0
    ttl: float | None = None
    job_type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 0:
            raise ValueError(f"Workload.jobs must be an integer >= 0, got {self.jobs!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Workload.kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not (isinstance(self.failure_rate, int | float) and 0 <= self.failure_rate <= 1):
            raise ValueError(
                f"Workload.failure_rate must be a probability in [0, 1], got {self.failure_rate!r}"
            )
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(
                f"Workload.max_attempts must be an integer >= 1, got {self.max_attempts!r}"
            )
        for name, value in (("arrivals", self.arrivals), ("service", self.service)):
            if isinstance(value, type):  # Workload(10, Poisson): the class, not an instance
                raise TypeError(
                    f"Workload.{name} must be an instance, got the class {value.__name__}; "
                    f"pass one: {_signature_hint(value)}"
                )
        if not hasattr(self.arrivals, "times"):
            raise TypeError(
                f"Workload.arrivals must be an Arrivals (e.g. Poisson(8.0)), got {self.arrivals!r}"
            )
        if not hasattr(self.service, "sample"):
            raise TypeError(
                "Workload.service must be a ServiceTime (e.g. Exponential(1.0)), "
                f"got {self.service!r}"
            )
        check_priority(self.priority)
        if self.ttl is not None:
            check_ttl(self.ttl)
        if self.job_type is not None and not (isinstance(self.job_type, str) and self.job_type):
            raise ValueError(f"Workload.job_type must be a non-empty string, got {self.job_type!r}")

    @property
    def is_cpu_bound(self) -> bool:
        return self.kind != "sleep"

    def job_class(self, name: str | None = None) -> JobClass:
        """This workload's jobs as one class (named ``name``, else after their type)."""
        job_type = self.job_type or name or self.kind
        return JobClass(name or job_type, job_type, self.priority, self.ttl, self.max_attempts)

    def plan(self, seed: int | None = None, name: str | None = None) -> Plan:
        """Draw the concrete numbers (``seed`` overrides the workload's); one class,
        :meth:`job_class` (``name``)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        arrivals = np.asarray(self.arrivals.times(self.jobs, rng), dtype=float)
        service = np.asarray(self.service.sample(self.jobs, rng), dtype=float)
        if self.failure_rate > 0:
            draws = rng.random((self.jobs, self.max_attempts)) < self.failure_rate
            failures = draws.tolist()
        else:
            failures = [[False] * self.max_attempts] * self.jobs if self.jobs else []
        classes = (self.job_class(name),)
        return Plan(arrivals.tolist(), service.tolist(), failures, classes, [0] * self.jobs)


def _signature_hint(cls: type) -> str:
    """``Poisson(rate)``: how to build one, from the dataclass's fields."""
    names = [f.name for f in fields(cls) if f.init] if is_dataclass(cls) else []
    return f"{cls.__name__}({', '.join(names)})"


# -- CPU-bound work -----------------------------------------------------------------------------

_SPINS_PER_SECOND: float | None = None


def spin(iterations: int) -> int:
    """Pure-Python busy work: holds the GIL for its whole duration (module level: picklable
    for ``anyio.to_process``)."""
    total = 0
    for i in range(iterations):
        total += i & 7
    return total


def spins_for(seconds: float) -> int:
    """How many :func:`spin` iterations take ``seconds`` on this machine (calibrated once)."""
    global _SPINS_PER_SECOND
    if _SPINS_PER_SECOND is None:
        n = 200_000
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            spin(n)
            best = min(best, time.perf_counter() - start)
        _SPINS_PER_SECOND = n / max(best, 1e-9)
    return max(1, round(seconds * _SPINS_PER_SECOND))


# -- text specs (command line, environment) -----------------------------------------------------

_ARRIVALS_HELP = "batch, poisson:RATE, periodic:SECONDS or bursts:SIZE:EVERY"
_SERVICE_HELP = "constant:S, uniform:LOW:HIGH, exponential:MEAN or lognormal:MEAN[:SIGMA]"


def _numbers(spec: str, count: range, allowed: str) -> list[float]:
    _, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if len(parts) not in count:
        raise ValueError(f"{spec!r} has the wrong number of values; expected {allowed}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"{spec!r} holds a value that is not a number; expected {allowed}"
        ) from None


def parse_arrivals(spec: str) -> Arrivals:
    """``"poisson:8"`` -> ``Poisson(8.0)``; errors list the accepted forms."""
    kind = spec.strip().lower().partition(":")[0]
    if kind == "batch":
        _numbers(spec, range(0, 1), _ARRIVALS_HELP)
        return Batch()
    if kind == "poisson":
        return Poisson(*_numbers(spec, range(1, 2), _ARRIVALS_HELP))
    if kind == "periodic":
        return Periodic(*_numbers(spec, range(1, 2), _ARRIVALS_HELP))
    if kind == "bursts":
        size, every = _numbers(spec, range(2, 3), _ARRIVALS_HELP)
        return Bursts(int(size), every)
    raise ValueError(f"unknown arrivals {spec!r}; expected {_ARRIVALS_HELP}")


def parse_service(spec: str) -> ServiceTime:
    """``"exponential:1.0"`` -> ``Exponential(1.0)``; errors list the accepted forms."""
    kind = spec.strip().lower().partition(":")[0]
    if kind == "constant":
        return Constant(*_numbers(spec, range(1, 2), _SERVICE_HELP))
    if kind == "uniform":
        return Uniform(*_numbers(spec, range(2, 3), _SERVICE_HELP))
    if kind == "exponential":
        return Exponential(*_numbers(spec, range(1, 2), _SERVICE_HELP))
    if kind == "lognormal":
        return LogNormal(*_numbers(spec, range(1, 3), _SERVICE_HELP))
    raise ValueError(f"unknown service time {spec!r}; expected {_SERVICE_HELP}")
