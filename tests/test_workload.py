"""Workloads: seeded, reproducible draws with the documented shapes, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jobsim.workload import (
    Batch,
    Bursts,
    Constant,
    Empirical,
    Exponential,
    LogNormal,
    Periodic,
    Poisson,
    SimulatedFailure,
    Uniform,
    Workload,
    parse_arrivals,
    parse_service,
    spin,
)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    workload = Workload(500, Poisson(8.0), Exponential(1.0), failure_rate=0.3, seed=7)
    assert workload.plan() == workload.plan()
    assert workload.plan(seed=8) != workload.plan()
    assert (
        Workload(500, Poisson(8.0), Exponential(1.0), seed=7).plan()
        == Workload(500, Poisson(8.0), Exponential(1.0), seed=7).plan()
    )


def test_arrival_patterns() -> None:
    rng = np.random.default_rng(0)
    assert Batch().times(4, rng).tolist() == [0.0] * 4
    assert Periodic(0.5).times(4, rng).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert Bursts(size=3, every=2.0).times(7, rng).tolist() == [0, 0, 0, 2, 2, 2, 4]
    times = Poisson(8.0).times(200_000, rng)
    assert np.all(np.diff(times) >= 0)
    gaps = np.diff(times)
    # Mean gap 1/8 s; the standard error is 0.125/sqrt(n) ~ 0.0003.
    assert abs(gaps.mean() - 0.125) < 0.002
    assert abs(gaps.std() - 0.125) < 0.003  # exponential: sd == mean


@pytest.mark.parametrize(
    ("service", "mean"),
    [
        (Constant(1.5), 1.5),
        (Uniform(0.5, 1.5), 1.0),
        (Exponential(2.0), 2.0),
        (LogNormal(1.0, 0.5), 1.0),
        (Empirical([0.1, 0.2, 0.6]), 0.3),
    ],
)
def test_service_times_have_their_mean(service: object, mean: float) -> None:
    draws = service.sample(200_000, np.random.default_rng(1))  # type: ignore[attr-defined]
    assert service.mean == pytest.approx(mean)  # type: ignore[attr-defined]
    assert draws.mean() == pytest.approx(mean, rel=0.02)
    assert np.all(draws >= 0)


def test_empirical_draws_only_its_samples() -> None:
    draws = Empirical([0.1, 0.2]).sample(1000, np.random.default_rng(2))
    assert set(draws.tolist()) == {0.1, 0.2}


def test_failure_draws_follow_the_rate() -> None:
    plan = Workload(20_000, failure_rate=0.2, max_attempts=3, seed=3).plan()
    draws = np.array(plan.failures)
    assert draws.shape == (20_000, 3)
    assert abs(draws.mean() - 0.2) < 0.01
    assert not np.array(Workload(10).plan().failures).any()


def test_simulated_failure_is_a_jobsim_error() -> None:
    from jobsim import JobsimError

    assert issubclass(SimulatedFailure, JobsimError)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Poisson(-1.0), "Poisson.rate"),
        (lambda: Periodic(math.inf), "Periodic.interval"),
        (lambda: Bursts(0, 1.0), "Bursts.size"),
        (lambda: Uniform(2.0, 1.0), "low <= high"),
        (lambda: Exponential(0.0), "Exponential.mean"),
        (lambda: Empirical([]), "Empirical.samples"),
        (lambda: Workload(-1), "Workload.jobs"),
        (lambda: Workload(1, kind="gpu"), "sleep, cpu-thread, cpu-process"),  # type: ignore[arg-type]
        (lambda: Workload(1, failure_rate=1.5), "Workload.failure_rate"),
        (lambda: Workload(1, max_attempts=0), "Workload.max_attempts"),
    ],
)
def test_bad_values_name_the_field(make: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make()  # type: ignore[operator]


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Workload\.arrivals"):
        Workload(1, arrivals=8.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Workload\.service"):
        Workload(1, service=1.0)  # type: ignore[arg-type]


def test_text_specs() -> None:
    assert parse_arrivals("poisson:8") == Poisson(8.0)
    assert parse_arrivals("batch") == Batch()
    assert parse_arrivals("bursts:5:2") == Bursts(5, 2.0)
    assert parse_service("constant:1.0") == Constant(1.0)
    assert parse_service("lognormal:1:0.5") == LogNormal(1.0, 0.5)
    with pytest.raises(ValueError, match="unknown arrivals"):
        parse_arrivals("gamma:1")
    with pytest.raises(ValueError, match="not a number"):
        parse_service("exponential:fast")
    with pytest.raises(ValueError, match="wrong number of values"):
        parse_service("uniform:1")


def test_spin_is_picklable_busy_work() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(spin))(10) == spin(10)
