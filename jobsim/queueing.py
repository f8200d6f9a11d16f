"""The queueing models the rest of the theory builds on: M/M/c by Erlang B/C, M/M/1, M/D/1,
M/G/1 (Pollaczek-Khinchine), their :class:`QueueMetrics`, and the argument checks they share.

A leaf: :mod:`jobsim.theory` re-exports these and :mod:`jobsim.latency` builds on them, so
neither imports the other's callers. Pure Python + ``math``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from jobsim import checks

__all__ = ["QueueMetrics", "erlang_b", "erlang_c", "md1", "mg1", "mm1", "mmc"]


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state figures of a queue; Little's law links them (lq = λ·wq, l = λ·w).

    arrival_rate: λ, jobs per unit time.  mean_service: E[S].  servers: c.
    utilisation: ρ = λ·E[S]/c, the busy fraction of each worker.
    p_wait: probability an arriving job has to queue.
    wq / w: mean time in the queue / in the system (queue + service).
    lq / l: mean number of jobs in the queue / in the system.
    """

    arrival_rate: float
    mean_service: float
    servers: int
    utilisation: float
    p_wait: float
    wq: float
    w: float
    lq: float
    l: float  # noqa: E741 - the textbook name


# --- argument checks --------------------------------------------------------------------------


_positive = checks.positive
_non_negative = checks.non_negative


def _servers(value: int) -> int:
    return checks.count("servers", value)


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be strictly between 0 and 1 (e.g. 0.95), got {value!r}")
    return float(value)


def _check_stable(arrival_rate: float, mean_service: float, servers: int) -> float:
    """Return ρ; raise ValueError if the queue would grow without bound (ρ >= 1)."""
    rho = arrival_rate * mean_service / servers
    if rho >= 1:
        raise ValueError(
            f"unstable queue: utilisation = arrival_rate * mean_service / servers = "
            f"{arrival_rate:g} * {mean_service:g} / {servers} = {rho:.4g} >= 1; "
            f"allowed: utilisation < 1 (use at least {math.floor(arrival_rate * mean_service) + 1}"
            f" servers, or a lower arrival_rate)"
        )
    return rho


# --- Erlang B / C -----------------------------------------------------------------------------


def _erlang_b_steps(offered_load: float) -> Iterator[tuple[int, float]]:
    """Yield (c, B(c, a)) for c = 1, 2, ... by the stable recurrence B(c) = aB/(c + aB)."""
    b = 1.0
    c = 0
    while True:
        c += 1
        b = offered_load * b / (c + offered_load * b)
        yield c, b


def _c_from_b(servers: int, offered_load: float, b: float) -> float:
    """Erlang C from Erlang B for the same (c, a); requires a < c."""
    return servers * b / (servers - offered_load * (1.0 - b))


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of M/M/c/c (Erlang B), the building block of Erlang C.

    Uses the recurrence B(0) = 1, B(k) = a·B(k-1) / (k + a·B(k-1)): no factorials, no
    overflow, O(c) and stable for thousands of servers.
    """
    servers = _servers(servers)
    offered_load = _non_negative("offered_load", offered_load)
    if offered_load == 0:
        return 0.0
    for c, b in _erlang_b_steps(offered_load):
        if c == servers:
            return b
    raise AssertionError("unreachable")  # pragma: no cover


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arriving job has to wait in an M/M/c queue (Erlang C).

    ``offered_load`` is a = λ·E[S] in Erlangs (the mean number of busy workers); it must be
    below ``servers``, else the queue is unstable. Computed from Erlang B,
    C = c·B / (c − a·(1 − B)), so it is stable for servers up to many thousands.
    """
    servers = _servers(servers)
    offered_load = _non_negative("offered_load", offered_load)
    if offered_load >= servers:
        raise ValueError(
            f"unstable queue: offered_load {offered_load:g} >= servers {servers}; "
            f"allowed: 0 <= offered_load < servers"
        )
    if offered_load == 0:
        return 0.0
    b = erlang_b(servers, offered_load)
    return _c_from_b(servers, offered_load, b)


# --- models -----------------------------------------------------------------------------------


def mmc(arrival_rate: float, mean_service: float, servers: int) -> QueueMetrics:
    """Steady state of M/M/c: Poisson arrivals, exponential service, ``servers`` workers.

    Wq = C(c, a) / (c·μ − λ) with μ = 1/E[S] and a = λ·E[S]; W = Wq + E[S].
    """
    arrival_rate = _positive("arrival_rate", arrival_rate)
    mean_service = _positive("mean_service", mean_service)
    servers = _servers(servers)
    rho = _check_stable(arrival_rate, mean_service, servers)
    load = arrival_rate * mean_service
    p_wait = erlang_c(servers, load)
    wq = p_wait * mean_service / (servers - load)  # = C / (cμ − λ)
    return _metrics(arrival_rate, mean_service, servers, rho, p_wait, wq)


def mm1(arrival_rate: float, mean_service: float) -> QueueMetrics:
    """Steady state of M/M/1: Wq = ρ·E[S] / (1 − ρ), P(wait) = ρ."""
    return mg1(arrival_rate, mean_service, service_scv=1.0)


def md1(arrival_rate: float, service_time: float) -> QueueMetrics:
    """Steady state of M/D/1 (constant service): Wq = ρ·S / (2(1 − ρ)), half of M/M/1's."""
    return mg1(arrival_rate, service_time, service_scv=0.0)


def mg1(arrival_rate: float, mean_service: float, service_scv: float) -> QueueMetrics:
    """Steady state of M/G/1 by Pollaczek-Khinchine: Wq = ρ·E[S]·(1 + scv) / (2(1 − ρ)).

    ``service_scv`` is the squared coefficient of variation of the service time,
    Var[S] / E[S]²: 0 for constant, 1 for exponential service.
    """
    arrival_rate = _positive("arrival_rate", arrival_rate)
    mean_service = _positive("mean_service", mean_service)
    service_scv = _non_negative("service_scv", service_scv)
    rho = _check_stable(arrival_rate, mean_service, 1)
    wq = rho * mean_service * (1.0 + service_scv) / (2.0 * (1.0 - rho))
    return _metrics(arrival_rate, mean_service, 1, rho, rho, wq)


def _metrics(
    arrival_rate: float, mean_service: float, servers: int, rho: float, p_wait: float, wq: float
) -> QueueMetrics:
    w = wq + mean_service
    return QueueMetrics(
        arrival_rate=arrival_rate,
        mean_service=mean_service,
        servers=servers,
        utilisation=rho,
        p_wait=p_wait,
        wq=wq,
        w=w,
        lq=arrival_rate * wq,
        l=arrival_rate * w,
    )
