"""Closed-form queueing theory: check simulations against it and plan capacity with it.

The models match the lab's pool: jobs arrive at ``arrival_rate`` per second (Poisson), wait in
one first-come-first-served queue, and are served by ``servers`` identical workers.

* ``mmc`` / ``erlang_c``: M/M/c (exponential service), via Erlang C.
* ``mm1``: M/M/1, the one-worker special case.
* ``md1`` / ``mg1``: one worker with constant / general service (Pollaczek-Khinchine).
* ``littles_law``: L = lambda * W, the bridge between counts and times.
* ``wait_quantile`` / ``workers_for``: waiting-time percentiles and capacity planning for M/M/c.
* ``wait_cdf``, ``latency_cdf``, ``latency_quantile`` (M/M/c, exact), ``mgc`` (Allen–Cunneen),
  ``kingman`` (G/G/1), ``mgc_wait_quantile``: latency questions, from :mod:`jobsim.latency`.
* ``priority_mmc``: per-class mean waits of M/M/c with non-preemptive priorities (Cobham).

Units are whatever the caller uses consistently (the lab uses seconds and jobs per second).
Everything is pure Python + ``math``: importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobsim.queueing import (
    QueueMetrics,
    _c_from_b,
    _check_stable,
    _erlang_b_steps,
    _non_negative,
    _positive,
    _probability,
    _servers,
    erlang_b,
    erlang_c,
    md1,
    mg1,
    mm1,
    mmc,
)

__all__ = [
    "ClassWait",
    "QueueMetrics",
    "erlang_b",
    "erlang_c",
    "kingman",
    "latency_cdf",
    "latency_quantile",
    "littles_law",
    "md1",
    "mg1",
    "mgc",
    "mgc_wait_quantile",
    "mm1",
    "mmc",
    "priority_mmc",
    "wait_cdf",
    "wait_quantile",
    "workers_for",
]


# --- Little's law -----------------------------------------------------------------------------


def littles_law(
    *,
    arrival_rate: float | None = None,
    time_in_system: float | None = None,
    number_in_system: float | None = None,
) -> float:
    """Little's law L = λ·W: give exactly two of the three, get the third.

    Holds for any stable system (or any part of one: the queue alone, with Wq and Lq).
    """
    given = {
        "arrival_rate": arrival_rate,
        "time_in_system": time_in_system,
        "number_in_system": number_in_system,
    }
    missing = [name for name, value in given.items() if value is None]
    if len(missing) != 1:
        raise ValueError(
            "littles_law needs exactly two of arrival_rate, time_in_system, number_in_system "
            f"(got {3 - len(missing)}: {', '.join(n for n in given if n not in missing) or 'none'})"
        )
    if missing == ["number_in_system"]:
        assert arrival_rate is not None and time_in_system is not None
        return _positive("arrival_rate", arrival_rate) * _non_negative(
            "time_in_system", time_in_system
        )
    if missing == ["time_in_system"]:
        assert arrival_rate is not None and number_in_system is not None
        return _non_negative("number_in_system", number_in_system) / _positive(
            "arrival_rate", arrival_rate
        )
    assert time_in_system is not None and number_in_system is not None
    return _non_negative("number_in_system", number_in_system) / _positive(
        "time_in_system", time_in_system
    )


# --- waiting-time percentiles and capacity planning -------------------------------------------


def _quantile_from_c(
    q: float, p_wait: float, arrival_rate: float, mean_service: float, c: int
) -> float:
    """t with P(Wq <= t) = q, given P(Wq > t) = C·exp(−(cμ − λ)·t)."""
    tail = 1.0 - q
    if p_wait <= tail:
        return 0.0  # at least a fraction q of jobs do not wait at all
    decay = c / mean_service - arrival_rate  # cμ − λ > 0 when stable
    return math.log(p_wait / tail) / decay


def wait_quantile(q: float, arrival_rate: float, mean_service: float, servers: int) -> float:
    """The q-quantile of the time a job waits in the queue of an M/M/c system.

    From P(Wq > t) = C·exp(−(c·μ − λ)·t): 0 when at least a fraction q of jobs never wait
    (C <= 1 − q), else ln(C / (1 − q)) / (c·μ − λ).
    """
    q = _probability("q", q)
    metrics = mmc(arrival_rate, mean_service, servers)
    return _quantile_from_c(q, metrics.p_wait, metrics.arrival_rate, metrics.mean_service, servers)


def workers_for(
    arrival_rate: float,
    mean_service: float,
    target_wait: float | None = None,
    *,
    percentile: float | None = None,
    target_latency: float | None = None,
    service_scv: float = 1.0,
) -> int:
    """The fewest workers whose mean (or ``percentile``) wait or latency meets the target.

    ``workers_for(8, 1.0, 0.1)`` answers "8 jobs/s of 1 s each: how many workers keep the mean
    queueing delay under 100 ms?"; with ``percentile=0.95`` the 95th-percentile wait must meet
    the target instead. ``target_latency=`` (instead of ``target_wait``) bounds the time in
    system, wait plus service: ``workers_for(8, 1.0, target_latency=3.0, percentile=0.99)``.
    Exponential service (M/M/c) is exact; other service (``service_scv``: 0 constant, 1
    exponential) uses the Allen–Cunneen approximation for means and
    :func:`~jobsim.latency.mgc_wait_quantile` for wait percentiles; latency percentiles need
    the service distribution's shape and are exact for exponential service only. Starts at the
    smallest stable pool and walks up the Erlang B recurrence incrementally.
    """
    from jobsim import latency

    arrival_rate = _positive("arrival_rate", arrival_rate)
    mean_service = _positive("mean_service", mean_service)
    service_scv = _non_negative("service_scv", service_scv)
    if (target_wait is None) == (target_latency is None):
        raise ValueError("workers_for needs exactly one of target_wait and target_latency")
    if target_latency is None:
        name, target = "target_wait", target_wait
    else:
        name, target = "target_latency", target_latency
    assert target is not None
    if percentile is None:
        target = _positive(f"{name} (a mean is never exactly 0)", target)
    else:
        percentile = _probability("percentile", percentile)
        target = _non_negative(name, target)
    if target_latency is not None and percentile is not None and service_scv != 1.0:
        raise ValueError(
            "latency percentiles are exact for exponential service only (service_scv=1); "
            f"got service_scv={service_scv:g}: plan a wait percentile, or simulate"
        )
    if target_latency is not None:
        # No number of workers gets a job through faster than its own service.
        floor = mean_service if percentile is None else -math.log(1.0 - percentile) * mean_service
        if target <= floor:
            raise ValueError(
                f"target_latency {target:g} is out of reach: the service time alone takes "
                f"{floor:.4g} ({'mean' if percentile is None else f'{percentile:g} quantile'}); "
                "allowed: a target above it"
            )
    stretch = (1.0 + service_scv) / 2.0  # Allen–Cunneen's factor; 1 for M/M/c
    load = arrival_rate * mean_service
    for c, b in _erlang_b_steps(load):
        if c <= load:
            continue  # unstable: the queue grows without bound
        p_wait = _c_from_b(c, load, b)
        if target_latency is not None and percentile is not None:
            value = latency.latency_quantile(percentile, arrival_rate, mean_service, c)
        elif percentile is None:
            value = stretch * p_wait * mean_service / (c - load)
            value += mean_service if target_latency is not None else 0.0
        else:
            value = stretch * _quantile_from_c(percentile, p_wait, arrival_rate, mean_service, c)
        if value <= target:
            return c
    raise AssertionError("unreachable")  # pragma: no cover


# --- priorities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassWait:
    """One class of a priority queue in steady state.

    name: the class's key (its position when the rates came as a list).
    rank: 0 for the highest priority.  arrival_rate: λ_k.
    utilisation: ρ_k = λ_k·E[S]/c, this class's share of the workers' time.
    wq / w: mean time in the queue / in the system for a job of this class.
    lq: mean number of this class's jobs waiting (λ_k·wq).
    """

    name: str | int
    rank: int
    arrival_rate: float
    utilisation: float
    wq: float
    w: float
    lq: float


def priority_mmc(
    rates: Mapping[str, float] | Sequence[float], mean_service: float, servers: int
) -> list[ClassWait]:
    """Per-class mean waits of M/M/c with non-preemptive priorities (Cobham's formula).

    ``rates`` are the classes' Poisson arrival rates, **highest priority first** (a dict keeps
    its order; the names label the result). All classes share the exponential service time
    ``mean_service``; a free worker takes the waiting job of the highest class, first come
    first served within a class, and never interrupts a running job. With μ = 1/E[S],
    a = λ·E[S] for the total λ and σ_k = ρ_1 + ... + ρ_k::

        Wq_k = C(c, a) / (c·μ · (1 − σ_{k−1}) · (1 − σ_k))

    One class gives Erlang C's Wq; the rate-weighted mean over the classes equals the FIFO
    queue's Wq (the order changes who waits, not how much work waits). Needs σ < 1 overall.
    """
    named: list[tuple[str | int, float]] = (
        list(rates.items()) if isinstance(rates, Mapping) else list(enumerate(rates))
    )
    if not named:
        raise ValueError("rates must name at least one class, got none")
    lambdas = [_non_negative(f"rates[{name!r}]", rate) for name, rate in named]
    mean_service = _positive("mean_service", mean_service)
    servers = _servers(servers)
    total = sum(lambdas)
    if total == 0:
        raise ValueError("rates must not all be 0: at least one class has to arrive")
    _check_stable(total, mean_service, servers)
    base = erlang_c(servers, total * mean_service) * mean_service / servers  # C / (c·μ)
    out: list[ClassWait] = []
    sigma = 0.0
    for rank, ((name, _), rate) in enumerate(zip(named, lambdas, strict=True)):
        rho = rate * mean_service / servers
        before, sigma = sigma, sigma + rho
        wq = base / ((1.0 - before) * (1.0 - sigma))
        out.append(ClassWait(name, rank, rate, rho, wq, wq + mean_service, rate * wq))
    return out


# The latency room builds on this one; its functions are part of the theory's API.
from jobsim.latency import (  # noqa: E402
    kingman,
    latency_cdf,
    latency_quantile,
    mgc,
    mgc_wait_quantile,
    wait_cdf,
)
