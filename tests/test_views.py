"""compare(): theory, virtual time and real time of one workload in one frame."""

from __future__ import annotations

import pytest

import jobsim
from jobsim import Empirical, Exponential, LogNormal, Periodic, Poisson, Workload, compare, theory


def test_three_views_of_an_mmc_workload() -> None:
    # M/M/4 at 80 %, 20 ms jobs: the real run of 150 jobs takes about a second.
    workload = Workload(20_000, Poisson(160.0), Exponential(0.02), seed=4)
    frame = compare(workload, workers=4, real_jobs=150)
    assert list(frame.index) == ["theory", "virtual", "real"]
    m = theory.mmc(160.0, 0.02, 4)
    assert frame.loc["theory", "wait_mean"] == pytest.approx(m.wq)
    assert frame.loc["theory", "latency_mean"] == pytest.approx(m.w)
    assert "exact" in frame.loc["theory", "note"]
    assert frame.loc["virtual", "jobs"] == 20_000 and frame.loc["real", "jobs"] == 150
    # The long virtual run agrees with Erlang C (single run, started empty: 15 %).
    assert frame.loc["virtual", "wait_mean"] == pytest.approx(m.wq, rel=0.15)
    assert frame.loc["virtual", "utilisation"] == pytest.approx(0.8, rel=0.03)
    # The real run pays the machine's cost per job on top of the planned service.
    assert frame.loc["real", "overhead_ms"] >= 0


def test_theory_says_when_it_is_an_approximation_or_has_nothing() -> None:
    approx = compare(
        Workload(300, Poisson(0.5), LogNormal(1.0, 0.5), seed=1), workers=1, real_jobs=1
    )
    assert "Allen–Cunneen approximation" in approx.loc["theory", "note"]
    none = compare(Workload(50, Periodic(1.0), Empirical([0.001])), workers=1, real_jobs=1)
    assert "no closed form" in none.loc["theory", "note"]


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="needs a Workload"):
        compare("mm1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="real_jobs must be an integer >= 1"):
        compare(Workload(10), real_jobs=0)
    assert jobsim.compare is compare
