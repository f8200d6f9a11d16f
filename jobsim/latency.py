"""Theory that answers latency questions: wait and latency distributions, and approximations
for service (and arrivals) that are not exponential.

Exact, for M/M/c (Poisson arrivals, exponential service, FIFO):

* ``wait_cdf(t, ...)``: P(Wq <= t) = 1 − C·exp(−(cμ − λ)·t);
* ``latency_cdf`` / ``latency_quantile``: the time in system T = Wq + S (wait plus service).

Approximations, each named as one, with its known error:

* ``mgc``: M/G/c by Allen–Cunneen, Wq ≈ Wq(M/M/c)·(ca² + cs²)/2;
* ``kingman``: G/G/1 by Kingman's heavy-traffic formula, Wq ≈ ρ/(1 − ρ)·(ca² + cs²)/2·E[S];
* ``mgc_wait_quantile``: wait percentiles of M/G/c with Erlang C's exponential tail stretched
  by the same factor (ca² + cs²)/2.

``ca²`` and ``cs²`` are the squared coefficients of variation (variance / mean²) of the
inter-arrival and service times: 1 for exponential, 0 for constant. Pure Python + ``math``.
All functions are re-exported by :mod:`jobsim.theory`.
"""

from __future__ import annotations

import math

from jobsim import queueing
from jobsim.queueing import QueueMetrics

__all__ = [
    "kingman",
    "latency_cdf",
    "latency_quantile",
    "mgc",
    "mgc_wait_quantile",
    "wait_cdf",
]


def _mmc_tail(arrival_rate: float, mean_service: float, servers: int) -> tuple[float, float]:
    """(C, θ): P(Wq > t) = C·exp(−θ·t) for M/M/c, θ = cμ − λ."""
    m = queueing.mmc(arrival_rate, mean_service, servers)
    return m.p_wait, servers / m.mean_service - m.arrival_rate


def wait_cdf(t: float, arrival_rate: float, mean_service: float, servers: int) -> float:
    """P(Wq <= t) for M/M/c: 1 − C·exp(−(cμ − λ)·t). Exact; at t = 0 it is 1 − C."""
    t = queueing._non_negative("t", t)
    p_wait, decay = _mmc_tail(arrival_rate, mean_service, servers)
    return 1.0 - p_wait * math.exp(-decay * t)


def latency_cdf(t: float, arrival_rate: float, mean_service: float, servers: int) -> float:
    """P(T <= t) for the time in system T = Wq + S of M/M/c (exact).

    With μ = 1/E[S] and θ = cμ − λ: a job that does not wait (1 − C) is done after an
    Exp(μ) service; one that waits takes Exp(θ) + Exp(μ) (hypoexponential), so
    P(T > t) = (1 − C)·e^(−μt) + C·(θ·e^(−μt) − μ·e^(−θt)) / (θ − μ)  (θ ≠ μ),
    and C·(1 + μt)·e^(−μt) for that term when θ = μ.
    """
    t = queueing._non_negative("t", t)
    p_wait, theta = _mmc_tail(arrival_rate, mean_service, servers)
    mu = 1.0 / mean_service
    if math.isclose(theta, mu, rel_tol=1e-9):
        both = (1.0 + mu * t) * math.exp(-mu * t)
    else:
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return 1.0 - ((1.0 - p_wait) * math.exp(-mu * t) + p_wait * both)


def latency_quantile(q: float, arrival_rate: float, mean_service: float, servers: int) -> float:
    """The q-quantile of the time in system (wait + service) of M/M/c (exact, by bisection
    on :func:`latency_cdf` to 1e-12 relative)."""
    q = queueing._probability("q", q)
    low, high = 0.0, mean_service
    while latency_cdf(high, arrival_rate, mean_service, servers) < q:
        low, high = high, 2.0 * high
    for _ in range(200):
        mid = (low + high) / 2
        if latency_cdf(mid, arrival_rate, mean_service, servers) < q:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * high:
            break
    return high


def _scv(name: str, value: float) -> float:
    return queueing._non_negative(name, value)


def mgc(
    arrival_rate: float,
    mean_service: float,
    servers: int,
    service_scv: float,
    arrival_scv: float = 1.0,
) -> QueueMetrics:
    """**Approximate** steady state of M/G/c (or G/G/c) by the Allen–Cunneen formula.

    Wq ≈ Wq(M/M/c) · (ca² + cs²) / 2, with Erlang C's probability of waiting kept as is.
    Exact for M/M/c (ca² = cs² = 1) and, for one server and Poisson arrivals, equal to
    Pollaczek–Khinchine (exact). Known error for c > 1: typically within about 10 % for
    cs² <= 2 at utilisations of 0.5 and above, larger (20-30 %) at light load or with very
    variable service; it is a heavy-traffic interpolation, not a bound (Allen 1990; Whitt
    1993, "Approximations for the GI/G/m queue"). ``service_scv`` = Var[S] / E[S]²
    (0 constant, 1 exponential); ``arrival_scv`` likewise for inter-arrival times.
    """
    service_scv = _scv("service_scv", service_scv)
    arrival_scv = _scv("arrival_scv", arrival_scv)
    m = queueing.mmc(arrival_rate, mean_service, servers)
    wq = m.wq * (arrival_scv + service_scv) / 2.0
    return queueing._metrics(m.arrival_rate, m.mean_service, m.servers, m.utilisation, m.p_wait, wq)


def kingman(
    arrival_rate: float, mean_service: float, arrival_scv: float, service_scv: float
) -> QueueMetrics:
    """**Approximate** mean wait of G/G/1 by Kingman's formula.

    Wq ≈ ρ/(1 − ρ) · (ca² + cs²)/2 · E[S]. Exact for M/G/1 (ca² = 1: Pollaczek–Khinchine),
    asymptotically exact as ρ → 1, and in general an approximation that errs high when
    arrivals are more regular than Poisson: D/M/1 at ρ = 0.8 gives 2.0·E[S] against the exact
    1.69·E[S] (+18 %); errors of 10-20 % at moderate load are usual. ``p_wait`` is reported
    as ρ, which only holds for Poisson arrivals.
    """
    arrival_rate = queueing._positive("arrival_rate", arrival_rate)
    mean_service = queueing._positive("mean_service", mean_service)
    arrival_scv = _scv("arrival_scv", arrival_scv)
    service_scv = _scv("service_scv", service_scv)
    rho = queueing._check_stable(arrival_rate, mean_service, 1)
    wq = rho / (1.0 - rho) * (arrival_scv + service_scv) / 2.0 * mean_service
    return queueing._metrics(arrival_rate, mean_service, 1, rho, rho, wq)


def mgc_wait_quantile(
    q: float,
    arrival_rate: float,
    mean_service: float,
    servers: int,
    service_scv: float,
    arrival_scv: float = 1.0,
) -> float:
    """**Approximate** q-quantile of the wait in M/G/c: Erlang C's exponential tail,
    P(Wq > t) ≈ C·exp(−(cμ − λ)·t / k) with k = (ca² + cs²)/2, which keeps the
    Allen–Cunneen mean. Exact for M/M/c; for other service a rough guide (tails of
    constant service are shorter than this, of heavy-tailed service longer)."""
    q = queueing._probability("q", q)
    k = (_scv("arrival_scv", arrival_scv) + _scv("service_scv", service_scv)) / 2.0
    p_wait, decay = _mmc_tail(arrival_rate, mean_service, servers)
    tail = 1.0 - q
    if p_wait <= tail or k == 0:
        return 0.0
    return math.log(p_wait / tail) * k / decay
