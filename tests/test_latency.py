"""Latency theory: M/M/c wait and latency distributions (exact), Allen–Cunneen and Kingman
(approximations), and workers_for with latency targets; each checked against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jobsim import (
    Constant,
    Exponential,
    LogNormal,
    Periodic,
    Poisson,
    Uniform,
    Workload,
    batch_means,
    simulate,
    theory,
)
from jobsim.theory import (
    kingman,
    latency_cdf,
    latency_quantile,
    mg1,
    mgc,
    mgc_wait_quantile,
    mmc,
    wait_cdf,
    wait_quantile,
    workers_for,
)

# --- exact M/M/c distributions ----------------------------------------------------------------


def test_wait_cdf_starts_at_one_minus_c_and_inverts_wait_quantile() -> None:
    m = mmc(8.0, 1.0, 10)
    assert wait_cdf(0.0, 8.0, 1.0, 10) == pytest.approx(1 - m.p_wait)
    t = wait_quantile(0.95, 8.0, 1.0, 10)
    assert wait_cdf(t, 8.0, 1.0, 10) == pytest.approx(0.95)


def test_mm1_latency_is_exponential_with_rate_mu_minus_lambda() -> None:
    for t in (0.0, 0.5, 2.0, 10.0):
        assert latency_cdf(t, 0.6, 1.0, 1) == pytest.approx(1 - math.exp(-0.4 * t))
    assert latency_quantile(0.95, 0.6, 1.0, 1) == pytest.approx(math.log(20) / 0.4)


def test_latency_cdf_is_continuous_where_the_two_rates_meet() -> None:
    # c = 2, mu = 1: theta = 2 - lambda equals mu at lambda = 1.
    exact = latency_cdf(1.5, 1.0, 1.0, 2)
    near = latency_cdf(1.5, 1.0 + 1e-6, 1.0, 2)
    assert exact == pytest.approx(near, abs=1e-5)
    assert 0.0 < exact < 1.0


def test_latency_quantile_inverts_the_cdf_and_its_mean_is_w() -> None:
    q = latency_quantile(0.99, 8.0, 1.0, 10)
    assert latency_cdf(q, 8.0, 1.0, 10) == pytest.approx(0.99, abs=1e-9)
    # E[T] = integral of P(T > t): matches W = Wq + E[S].
    grid = np.linspace(0, 60, 60_001)
    tail = [1 - latency_cdf(t, 8.0, 1.0, 10) for t in grid]
    assert np.trapezoid(tail, grid) == pytest.approx(mmc(8.0, 1.0, 10).w, rel=1e-4)


def test_mmc_latency_percentiles_match_simulation() -> None:
    workload = Workload(100_000, Poisson(3.2), Exponential(1.0), seed=5)
    latency = simulate(workload, workers=4, capacity=100_000).steady().jobs["latency"]
    for q in (0.5, 0.95, 0.99):
        simulated = float(np.percentile(latency, 100 * q))
        assert simulated == pytest.approx(latency_quantile(q, 3.2, 1.0, 4), rel=0.05), q


# --- approximations ---------------------------------------------------------------------------


def test_allen_cunneen_is_exact_where_it_should_be() -> None:
    assert mgc(8.0, 1.0, 10, 1.0) == mmc(8.0, 1.0, 10)
    one = mgc(0.7, 1.0, 1, 0.0)
    assert one.wq == pytest.approx(mg1(0.7, 1.0, 0.0).wq)  # M/D/1, Pollaczek-Khinchine
    assert kingman(0.7, 1.0, 1.0, 2.5).wq == pytest.approx(mg1(0.7, 1.0, 2.5).wq)
    assert mgc_wait_quantile(0.95, 8.0, 1.0, 10, 1.0) == pytest.approx(
        wait_quantile(0.95, 8.0, 1.0, 10)
    )
    assert mgc_wait_quantile(0.95, 8.0, 1.0, 10, 0.0, arrival_scv=0.0) == 0.0


#: Allen–Cunneen's known error at these loads: within about 10 % (Whitt 1993).
ALLEN_CUNNEEN_ERROR = 0.10


@pytest.mark.parametrize(
    ("service", "scv", "servers", "load"),
    [
        (Constant(1.0), 0.0, 4, 0.8),
        (Uniform(0.0, 2.0), 1 / 3, 2, 0.6),
        (LogNormal(1.0, 1.0), math.e - 1, 2, 0.6),
    ],
    ids=["M/D/4 rho=0.8", "M/U/2 rho=0.6", "M/LogN/2 rho=0.6"],
)
def test_allen_cunneen_within_its_known_error_of_simulation(
    service: object, scv: float, servers: int, load: float
) -> None:
    rate = load * servers
    workload = Workload(60_000, Poisson(rate), service, seed=21)  # type: ignore[arg-type]
    waits = simulate(workload, workers=servers, capacity=60_000).steady().jobs["wait"]
    simulated = batch_means(waits, batches=20)
    approx = mgc(rate, 1.0, servers, scv).wq
    slack = ALLEN_CUNNEEN_ERROR * simulated.mean + simulated.half_width
    assert abs(approx - simulated.mean) <= slack, f"Allen-Cunneen {approx:.3f} vs {simulated}"
    p95 = float(np.percentile(waits, 95))
    approx_p95 = mgc_wait_quantile(0.95, rate, 1.0, servers, scv)
    assert approx_p95 == pytest.approx(p95, rel=ALLEN_CUNNEEN_ERROR)


def test_kingman_errs_high_for_regular_arrivals_by_its_known_margin() -> None:
    # D/M/1 at rho = 0.8: exact Wq = s / (mu (1 - s)) with s = exp(-(1 - s) mu / lambda).
    s = 0.5
    for _ in range(500):
        s = math.exp(-(1 - s) * 1.25)
    exact = s / (1 - s)
    workload = Workload(100_000, Periodic(1.25), Exponential(1.0), seed=22)
    waits = simulate(workload, workers=1, capacity=100_000).steady().jobs["wait"]
    simulated = batch_means(waits, batches=20)
    assert simulated.covers(exact), f"D/M/1 exact {exact:.3f} vs simulated {simulated}"
    approx = kingman(0.8, 1.0, arrival_scv=0.0, service_scv=1.0).wq
    assert approx == pytest.approx(2.0)
    assert 0 < approx / exact - 1 <= 0.20  # the docstring's "+18 %"
    assert simulated.mean < approx <= 1.25 * simulated.high


# --- workers_for with latency targets ---------------------------------------------------------


def test_workers_for_mean_latency_is_mean_wait_plus_service() -> None:
    assert workers_for(8.0, 1.0, target_latency=1.1) == workers_for(8.0, 1.0, 0.1)


@pytest.mark.parametrize(("target", "q"), [(6.0, 0.99), (4.0, 0.95), (1.2, 0.5)])
def test_workers_for_latency_percentile_is_the_minimum(target: float, q: float) -> None:
    c = workers_for(8.0, 1.0, target_latency=target, percentile=q)
    assert latency_quantile(q, 8.0, 1.0, c) <= target
    if c - 1 > 8:
        assert latency_quantile(q, 8.0, 1.0, c - 1) > target


def test_workers_for_uses_allen_cunneen_for_other_service() -> None:
    constant = workers_for(8.0, 1.0, 0.05, service_scv=0.0)
    exponential = workers_for(8.0, 1.0, 0.05)
    heavy = workers_for(8.0, 1.0, 0.05, service_scv=4.0)
    assert constant <= exponential < heavy
    assert mgc(8.0, 1.0, heavy, 4.0).wq <= 0.05 < mgc(8.0, 1.0, heavy - 1, 4.0).wq


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of target_wait and target_latency"),
        ({"target_wait": 1.0, "target_latency": 2.0}, "exactly one of"),
        ({"target_latency": 0.0}, "target_latency"),
        ({"target_latency": 1.0}, "out of reach: the service time alone takes 1 .mean"),
        ({"target_latency": 4.0, "percentile": 0.99}, r"takes 4.605 \(0.99 quantile\)"),
        (
            {"target_latency": 2.0, "percentile": 0.9, "service_scv": 0.5},
            "exact for exponential service only",
        ),
        ({"target_wait": 1.0, "service_scv": -1.0}, "service_scv"),
    ],
)
def test_workers_for_bad_targets(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        workers_for(8.0, 1.0, **kwargs)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: wait_cdf(-1.0, 8.0, 1.0, 10), "t must be"),
        (lambda: latency_quantile(1.0, 8.0, 1.0, 10), "q must be strictly between"),
        (lambda: mgc(8.0, 1.0, 8, 1.0), "unstable"),
        (lambda: kingman(1.0, 1.0, 1.0, 1.0), "unstable"),
        (lambda: mgc(8.0, 1.0, 10, -0.5), "service_scv"),
    ],
)
def test_bad_arguments(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


def test_reexported_from_theory() -> None:
    from jobsim import latency

    for name in latency.__all__:
        assert getattr(theory, name) is getattr(latency, name)
