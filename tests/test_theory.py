"""Closed-form queueing theory: textbook values, identities between models, and properties."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import theory
from jobsim.theory import (
    QueueMetrics,
    erlang_b,
    erlang_c,
    littles_law,
    md1,
    mg1,
    mm1,
    mmc,
    wait_quantile,
    workers_for,
)


def erlang_c_exact(servers: int, load: Fraction) -> float:
    """Reference Erlang C from the textbook factorial formula, in exact rational arithmetic."""
    c, a = servers, load
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return float(tail / (head + tail))


# --- textbook values --------------------------------------------------------------------------


def test_mm1_half_load_waits_one_service_time() -> None:
    m = mm1(0.5, 1.0)
    assert m.utilisation == pytest.approx(0.5)
    assert m.p_wait == pytest.approx(0.5)
    assert m.wq == pytest.approx(1.0)
    assert m.w == pytest.approx(2.0)
    assert m.lq == pytest.approx(0.5)
    assert m.l == pytest.approx(1.0)


def test_erlang_c_textbook_values() -> None:
    # M/M/2 at a = 1 Erlang: P(wait) = 1/3 (e.g. Kleinrock vol. 1, Harchol-Balter ch. 14).
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # Single server: P(wait) = rho.
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # M/M/10 at 8 Erlangs (the lab's speed benchmark): C ~ 0.4092.
    assert erlang_c(10, 8.0) == pytest.approx(0.409180, abs=1e-6)


def test_erlang_b_textbook_value() -> None:
    # B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


@pytest.mark.parametrize(("servers", "load"), [(1, "1/2"), (3, "5/2"), (10, "8"), (40, "71/2")])
def test_erlang_c_matches_factorial_formula(servers: int, load: str) -> None:
    a = Fraction(load)
    assert erlang_c(servers, float(a)) == pytest.approx(erlang_c_exact(servers, a), rel=1e-12)


def test_mmc_textbook_wait() -> None:
    # M/M/10, lambda = 8/s, E[S] = 1 s: Wq = C / (c*mu - lambda) = C / 2.
    m = mmc(8.0, 1.0, 10)
    assert m.utilisation == pytest.approx(0.8)
    assert m.wq == pytest.approx(erlang_c(10, 8.0) / 2)
    assert m.w == pytest.approx(m.wq + 1.0)


# --- identities between models ----------------------------------------------------------------


@pytest.mark.parametrize(("rate", "service"), [(0.5, 1.0), (9.0, 0.1), (0.01, 50.0)])
def test_mmc_with_one_server_is_mm1(rate: float, service: float) -> None:
    a, b = mmc(rate, service, 1), mm1(rate, service)
    for field in ("utilisation", "p_wait", "wq", "w", "lq", "l"):
        assert getattr(a, field) == pytest.approx(getattr(b, field)), field
    assert a.servers == b.servers == 1


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_md1_waits_half_as_long_as_mm1(rho: float) -> None:
    assert md1(rho, 1.0).wq == pytest.approx(mm1(rho, 1.0).wq / 2)


def test_mg1_interpolates_between_md1_and_mm1() -> None:
    assert mg1(0.5, 1.0, 0.0) == md1(0.5, 1.0)
    assert mg1(0.5, 1.0, 1.0) == mm1(0.5, 1.0)
    # More variable service -> longer waits (scv = 4: Wq = rho*S*5 / (2(1-rho)) = 2.5).
    assert mg1(0.5, 1.0, 4.0).wq == pytest.approx(2.5)


def test_littles_law_each_way() -> None:
    assert littles_law(arrival_rate=8.0, time_in_system=1.5) == pytest.approx(12.0)
    assert littles_law(arrival_rate=8.0, number_in_system=12.0) == pytest.approx(1.5)
    assert littles_law(time_in_system=1.5, number_in_system=12.0) == pytest.approx(8.0)


def test_wait_quantile_at_p_wait_boundary() -> None:
    m = mmc(8.0, 1.0, 10)
    # A fraction 1 - C of jobs never wait, so every quantile up to 1 - C is 0 ...
    assert wait_quantile(1 - m.p_wait - 1e-9, 8.0, 1.0, 10) == 0.0
    assert wait_quantile(0.5, 8.0, 1.0, 10) == 0.0
    # ... and just above it the wait starts at t = 0 and grows.
    assert wait_quantile(1 - m.p_wait + 1e-9, 8.0, 1.0, 10) == pytest.approx(0.0, abs=1e-6)
    assert wait_quantile(0.95, 8.0, 1.0, 10) > 0


def test_wait_quantile_inverts_the_tail() -> None:
    t = wait_quantile(0.99, 8.0, 1.0, 10)
    m = mmc(8.0, 1.0, 10)
    assert m.p_wait * math.exp(-(10 / 1.0 - 8.0) * t) == pytest.approx(0.01)
    # M/M/1: P(Wq > t) = rho * exp(-(mu - lambda) t).
    assert wait_quantile(0.9, 0.5, 1.0, 1) == pytest.approx(math.log(0.5 / 0.1) / 0.5)


@pytest.mark.parametrize(
    ("rate", "service", "target", "percentile"),
    [
        (8.0, 1.0, 0.1, None),
        (8.0, 1.0, 0.1, 0.95),
        (8.0, 1.0, 0.0, 0.95),
        (100.0, 0.05, 0.01, None),
        (0.5, 1.0, 10.0, None),
        (950.0, 1.0, 0.001, 0.99),
    ],
)
def test_workers_for_is_the_minimum(
    rate: float, service: float, target: float, percentile: float | None
) -> None:
    def wait(c: int) -> float:
        if percentile is None:
            return mmc(rate, service, c).wq
        return wait_quantile(percentile, rate, service, c)

    c = workers_for(rate, service, target, percentile=percentile)
    assert wait(c) <= target
    if c - 1 > rate * service:  # c - 1 workers would still be stable: it must miss the target
        assert wait(c - 1) > target
    else:
        assert c == math.floor(rate * service) + 1  # the smallest stable pool


def test_workers_for_percentile_needs_more_than_mean() -> None:
    assert workers_for(8.0, 1.0, 0.1, percentile=0.95) > workers_for(8.0, 1.0, 0.1)


# --- numerical stability ----------------------------------------------------------------------


def test_large_pools_are_stable_and_exact() -> None:
    # 1000 servers at 95% load: the factorial formula overflows floats (1000! ~ 1e2567).
    exact = erlang_c_exact(1000, Fraction(950))
    assert erlang_c(1000, 950.0) == pytest.approx(exact, rel=1e-9)
    for servers in (2000, 5000, 10000):
        p = erlang_c(servers, 0.98 * servers)
        assert 0.0 < p < 1.0
        assert math.isfinite(mmc(0.98 * servers, 1.0, servers).wq)


def test_workers_for_large_load() -> None:
    c = workers_for(10_000.0, 1.0, 0.01)
    assert 10_000 < c < 10_200
    assert mmc(10_000.0, 1.0, c).wq <= 0.01 < mmc(10_000.0, 1.0, c - 1).wq


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mmc(10.0, 1.0, 10), "unstable.*utilisation.*allowed: utilisation < 1"),
        (lambda: mmc(12.0, 1.0, 10), "use at least 13 servers"),
        (lambda: mm1(1.0, 1.0), "unstable"),
        (lambda: md1(2.0, 1.0), "unstable"),
        (lambda: mmc(0.0, 1.0, 2), "arrival_rate must be a finite number > 0"),
        (lambda: mmc(-1.0, 1.0, 2), "arrival_rate"),
        (lambda: mmc(1.0, 0.0, 2), "mean_service"),
        (lambda: mmc(1.0, float("nan"), 2), "mean_service"),
        (lambda: mmc(1.0, 1.0, 0), "servers must be an integer >= 1"),
        (lambda: mmc(1.0, 1.0, 2.5), "servers must be an integer"),  # type: ignore[arg-type]
        (lambda: md1(0.5, -1.0), "mean_service"),
        (lambda: mg1(0.5, 1.0, -1.0), "service_scv"),
        (lambda: erlang_c(0, 0.5), "servers"),
        (lambda: erlang_c(2, 2.0), "offered_load 2 >= servers 2"),
        (lambda: erlang_c(2, -0.1), "offered_load"),
        (lambda: wait_quantile(1.0, 8.0, 1.0, 10), "q must be strictly between 0 and 1"),
        (lambda: wait_quantile(0.0, 8.0, 1.0, 10), "q must be"),
        (lambda: workers_for(8.0, 1.0, 0.0), "target_wait"),
        (lambda: workers_for(8.0, 1.0, -1.0, percentile=0.9), "target_wait"),
        (lambda: workers_for(8.0, 1.0, 1.0, percentile=95), "percentile"),
        (lambda: workers_for(0.0, 1.0, 1.0), "arrival_rate"),
        (lambda: littles_law(arrival_rate=1.0), "exactly two.*got 1: arrival_rate"),
        (lambda: littles_law(), "got 0"),
        (
            lambda: littles_law(arrival_rate=1.0, time_in_system=1.0, number_in_system=1.0),
            "got 3",
        ),
        (lambda: littles_law(arrival_rate=0.0, time_in_system=1.0), "arrival_rate"),
        (lambda: littles_law(number_in_system=1.0, time_in_system=0.0), "time_in_system"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


# --- properties -------------------------------------------------------------------------------

loads = st.floats(min_value=0.01, max_value=0.99)
servers_st = st.integers(min_value=1, max_value=300)
services = st.floats(min_value=1e-3, max_value=1e3)


@settings(max_examples=200, deadline=None)
@given(servers=servers_st, rho=loads, service=services)
def test_mmc_obeys_littles_law_and_bounds(servers: int, rho: float, service: float) -> None:
    rate = rho * servers / service
    m = mmc(rate, service, servers)
    assert isinstance(m, QueueMetrics)
    assert 0.0 <= m.p_wait <= 1.0
    assert m.utilisation == pytest.approx(rho)
    assert m.lq == pytest.approx(littles_law(arrival_rate=rate, time_in_system=m.wq))
    assert m.l == pytest.approx(littles_law(arrival_rate=rate, time_in_system=m.w))
    assert m.l == pytest.approx(m.lq + rate * service)  # L = Lq + busy servers
    assert m.w == pytest.approx(m.wq + service)
    assert m.p_wait >= erlang_b(servers, rate * service)  # waiting beats being turned away


@settings(max_examples=200, deadline=None)
@given(servers=servers_st, rho=loads)
def test_erlang_c_monotone(servers: int, rho: float) -> None:
    load = rho * servers
    c = erlang_c(servers, load)
    assert erlang_c(servers + 1, load) <= c  # one more worker never hurts
    if load * 1.01 < servers:
        assert erlang_c(servers, load * 1.01) >= c  # more load never helps


@settings(max_examples=100, deadline=None)
@given(servers=servers_st, rho=loads, q=st.floats(min_value=0.01, max_value=0.999))
def test_wait_quantile_is_consistent_with_p_wait(servers: int, rho: float, q: float) -> None:
    m = mmc(rho * servers, 1.0, servers)
    t = wait_quantile(q, rho * servers, 1.0, servers)
    assert t >= 0.0
    # P(Wq > t) = C exp(-(c - lambda) t) is <= 1 - q, with equality whenever t > 0.
    tail = m.p_wait * math.exp(-(servers - rho * servers) * t)
    if t > 0:
        assert tail == pytest.approx(1 - q, rel=1e-9)
    else:
        assert m.p_wait <= 1 - q


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=500.0),
    target=st.floats(min_value=1e-3, max_value=10.0),
    percentile=st.one_of(st.none(), st.floats(min_value=0.5, max_value=0.999)),
)
def test_workers_for_minimal_property(rate: float, target: float, percentile: float | None) -> None:
    def wait(c: int) -> float:
        if percentile is None:
            return mmc(rate, 1.0, c).wq
        return wait_quantile(percentile, rate, 1.0, c)

    c = workers_for(rate, 1.0, target, percentile=percentile)
    assert c > rate
    assert wait(c) <= target
    if c - 1 > rate:
        assert wait(c - 1) > target


def test_reexported_from_jobsim() -> None:
    assert jobsim.theory is theory
    assert jobsim.erlang_c is erlang_c
    assert jobsim.mmc is mmc
    assert jobsim.workers_for is workers_for
    assert jobsim.QueueMetrics is QueueMetrics


# --- an independent check: a tiny event-free M/M/c simulation ---------------------------------


def simulate_mmc_waits(
    rate: float, service: float, servers: int, jobs: int, seed: int
) -> list[float]:
    """FCFS M/M/c by the multi-server Lindley recursion: each job takes the earliest-free server."""
    import heapq
    import random

    rng = random.Random(seed)
    free_at = [0.0] * servers  # a heap of the times each server becomes free
    now, waits = 0.0, []
    for _ in range(jobs):
        now += rng.expovariate(rate)
        start = max(now, heapq.heappop(free_at))
        waits.append(start - now)
        heapq.heappush(free_at, start + rng.expovariate(1 / service))
    return waits[jobs // 10 :]  # cut the warm-up


def test_formulas_match_a_simulated_mmc_queue() -> None:
    rate, service, servers = 2.1, 1.0, 3  # rho = 0.7
    waits = simulate_mmc_waits(rate, service, servers, jobs=200_000, seed=1)
    m = mmc(rate, service, servers)
    # 20 batch means give a confidence interval for the mean wait that honours autocorrelation.
    size = len(waits) // 20
    means = [sum(waits[i * size : (i + 1) * size]) / size for i in range(20)]
    grand = sum(means) / 20
    half_width = 2.09 * math.sqrt(sum((x - grand) ** 2 for x in means) / 19 / 20)  # t(19) 97.5%
    assert abs(grand - m.wq) < half_width
    assert sum(w > 0 for w in waits) / len(waits) == pytest.approx(m.p_wait, abs=0.01)
    p95 = sorted(waits)[int(0.95 * len(waits))]
    assert p95 == pytest.approx(wait_quantile(0.95, rate, service, servers), rel=0.05)
