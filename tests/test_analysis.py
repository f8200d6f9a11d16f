"""Output analysis: intervals, MSER-5, time-weighted averages and RunResult.steady."""

from __future__ import annotations

import math

import numpy as np
import pytest

import jobsim
from jobsim import Batch, Constant, Exponential, Poisson, Workload, simulate
from jobsim.analysis import (
    Interval,
    batch_means,
    mser,
    occupancy,
    t_interval,
    time_average,
)


@pytest.fixture(scope="module")
def mm2() -> jobsim.RunResult:
    """M/M/2 at 90 % load, started empty: a visible warm-up."""
    return simulate(
        Workload(4000, Poisson(1.8), Exponential(1.0), seed=3), workers=2, capacity=4000
    )


# --- intervals --------------------------------------------------------------------------------


def test_t_interval_textbook_value() -> None:
    # mean 3, sd sqrt(2.5), t(4; 0.975) = 2.7764
    interval = t_interval([1, 2, 3, 4, 5])
    assert interval.mean == 3.0
    assert interval.half_width == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5))
    assert (interval.low, interval.high) == pytest.approx((3 - 1.9632, 3 + 1.9632), abs=1e-4)
    assert interval.n == 5 and interval.method == "t"
    assert interval.covers(4.9) and not interval.covers(5.0)
    assert interval.relative == pytest.approx(interval.half_width / 3)
    assert "95% t, n=5" in str(interval)
    assert t_interval([1, 2, 3, 4, 5], confidence=0.99).half_width > interval.half_width


def test_batch_means_uses_whole_batches_from_the_end() -> None:
    # 3 leading values are dropped; the 4 batches of 2 have means 10, 20, 30, 40.
    values = [999, 999, 999, 10, 10, 20, 20, 30, 30, 40, 40]
    interval = batch_means(values, batches=4, adjusted=False)
    expected = t_interval([10, 20, 30, 40])
    assert isinstance(interval, Interval)
    assert interval.mean == expected.mean == 25.0
    assert interval.half_width == pytest.approx(expected.half_width)
    assert interval.n == 4 and interval.method == "batch means"


def test_adjusted_batch_means_widens_for_correlated_batch_means() -> None:
    # Means 10, 20, 30, 40: lag-1 autocorrelation (75 - 25 + 75) / 500 = 0.25, no skewness,
    # so the variance grows by (1 + 0.25) / (1 - 0.25) and the interval stays symmetric.
    values = [10, 10, 20, 20, 30, 30, 40, 40]
    plain = batch_means(values, batches=4, adjusted=False)
    adjusted = batch_means(values, batches=4)
    assert adjusted.method == "adjusted batch means" and adjusted.mean == 25.0
    assert adjusted.half_width == pytest.approx(plain.half_width * math.sqrt(1.25 / 0.75))
    assert adjusted.high - 25.0 == pytest.approx(25.0 - adjusted.low)
    # Alternating means are negatively correlated: no narrower than the plain interval.
    alternating = [10, 10, 40, 40] * 3
    assert batch_means(alternating, batches=6).half_width == pytest.approx(
        batch_means(alternating, batches=6, adjusted=False).half_width
    )


def test_adjusted_batch_means_gives_a_right_skewed_mean_a_longer_upper_arm() -> None:
    values = np.repeat([1.0, 1.2, 0.9, 1.1, 5.0, 1.0, 0.8, 1.1, 1.0, 1.2], 2)  # one busy batch
    interval = batch_means(values, batches=10)
    assert interval.high - interval.mean > interval.mean - interval.low > 0
    assert interval.covers(interval.mean) and interval.low < interval.mean < interval.high
    assert "[" in str(interval) and "adjusted batch means, n=10" in str(interval)
    assert interval.as_dict()["high"] == interval.high
    flat = batch_means([2.0] * 20, batches=10)
    assert flat.half_width == 0.0 and flat.covers(2.0)


def test_batch_means_is_wider_than_the_naive_interval_on_correlated_data() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros(20_000)
    for i in range(1, x.size):  # AR(1), phi = 0.95: strongly correlated
        x[i] = 0.95 * x[i - 1] + rng.normal()
    naive = t_interval(x)
    honest = batch_means(x, batches=20)
    assert honest.half_width > 3 * naive.half_width  # the true ratio is sqrt(39) ~ 6


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: t_interval([1.0]), "at least 2 values"),
        (lambda: t_interval([1.0, float("nan")]), "at least 2 values"),
        (lambda: t_interval([1.0, 2.0], confidence=95), "confidence must be strictly between"),
        (lambda: batch_means(range(10), batches=1), "batches must be an integer >= 2"),
        (lambda: batch_means(range(10), batches=20), "20 batches need >= 40 values, got 10"),
        (lambda: mser(range(10), batch=0), "batch must be an integer >= 1"),
        (lambda: time_average([0.0], [1.0], 1.0, 1.0), "end must be after start"),
        (lambda: time_average([0.0, 1.0], [1.0], 0.0, 2.0), "differ in length"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


def test_non_numbers_are_refused() -> None:
    with pytest.raises(TypeError, match="sequence of numbers"):
        t_interval(["a", "b"])


# --- MSER-5 -----------------------------------------------------------------------------------


def test_mser_cuts_an_initial_transient() -> None:
    rng = np.random.default_rng(2)
    transient = np.linspace(10.0, 0.0, 200)  # decays to the steady level over 200 values
    values = np.concatenate([transient, np.zeros(1800)]) + rng.normal(0, 0.5, 2000)
    cut = mser(values)
    assert cut % 5 == 0
    assert 120 <= cut <= 260


def test_mser_keeps_a_stationary_series_almost_whole() -> None:
    values = np.random.default_rng(3).normal(size=2000)
    assert mser(values) <= 200
    assert mser([1.0, 2.0]) == 0  # too short to tell


def test_mser_low_start_refuses_to_cut_a_stretch_higher_than_the_rest() -> None:
    rng = np.random.default_rng(4)
    congested = np.concatenate([rng.normal(8.0, 3.0, 300), rng.normal(1.0, 0.2, 1700)])
    assert mser(congested) >= 250  # plain MSER-5 cuts the busy stretch...
    assert mser(congested, low_start=True) == 0  # ...which cannot be the empty start
    rising = np.concatenate([np.linspace(0.0, 1.0, 200), np.ones(1800)])
    rising += rng.normal(0, 0.05, 2000)
    assert mser(rising, low_start=True) == mser(rising) > 0  # a low start is still cut


def test_mser_searches_the_first_half_only() -> None:
    values = np.concatenate([np.linspace(100, 0, 900), np.zeros(100)])  # never settles
    assert mser(values) == 500


# --- time-weighted averages -------------------------------------------------------------------


def test_time_average_weighs_each_level_by_how_long_it_lasted() -> None:
    # 0 until t=1, 2 until t=3, (a 5 for no time at all), 1 until the end at t=5.
    times = [1.0, 3.0, 3.0, 3.0]
    levels = [2.0, 5.0, 0.0, 1.0]
    assert time_average(times, levels, 0.0, 5.0) == pytest.approx((2 * 2 + 1 * 2) / 5)
    assert time_average(times, levels, 2.0, 4.0) == pytest.approx((2 * 1 + 1 * 1) / 2)


def test_summary_lq_and_l_are_time_averages_from_the_trace(mm2: jobsim.RunResult) -> None:
    s, jobs = mm2.summary, mm2.jobs
    # Every job arrives after 0 and finishes by the makespan, so the area under the number
    # queued is exactly the sum of the waits (and in system: the sum of latencies).
    assert s["lq"] * s["makespan"] == pytest.approx(jobs["wait"].sum(), rel=1e-9)
    assert s["l"] * s["makespan"] == pytest.approx(jobs["latency"].sum(), rel=1e-9)
    levels = occupancy(mm2)
    assert list(levels.columns) == ["time", "queued", "busy", "in_system"]
    assert levels["time"].is_unique and levels["time"].is_monotonic_increasing
    assert levels["busy"].between(0, 2).all() and levels["queued"].min() >= 0
    busy = time_average(levels["time"], levels["busy"], 0.0, s["makespan"]) / 2
    assert busy == pytest.approx(s["utilisation"], rel=1e-9)


def test_queue_depth_has_no_zero_length_steps() -> None:
    # Periodic arrivals to an idle pool: each job is queued and taken at the same instant.
    # The depth never really leaves 0, and the samples must not say otherwise.
    from jobsim import Periodic

    result = simulate(Workload(50, Periodic(2.0), Constant(1.0)), workers=1)
    depth = result.queue_depth
    assert depth["time"].is_unique
    assert (depth["depth"] == 0).all()
    assert result.summary["lq"] == 0.0


# --- steady -----------------------------------------------------------------------------------


def test_steady_by_jobs_and_seconds(mm2: jobsim.RunResult) -> None:
    trimmed = mm2.steady(jobs=500)
    assert len(trimmed.jobs) == 3500
    assert trimmed.jobs["index"].min() == 500
    start = mm2.jobs.sort_values("submitted")["submitted"].iloc[500]
    assert trimmed.settings["warmup_time"] == start and trimmed.settings["warmup_jobs"] == 500
    assert trimmed.summary["makespan"] == pytest.approx(mm2.summary["makespan"] - start)
    assert trimmed.summary["wait_mean"] == pytest.approx(mm2.jobs["wait"].iloc[500:].mean())
    assert trimmed.events["time"].min() >= start
    assert trimmed.queue_depth["time"].iloc[0] == start
    by_time = mm2.steady(seconds=100.0)
    assert (by_time.jobs["submitted"] >= 100.0).all()
    assert len(by_time.jobs) == (mm2.jobs["submitted"] >= 100.0).sum()
    # Nothing is queued before the first arrival: cutting there keeps the same area.
    whole, first = mm2.summary, mm2.jobs["submitted"].min()
    expected = whole["lq"] * whole["makespan"] / (whole["makespan"] - first)
    assert mm2.steady(jobs=0).summary["lq"] == pytest.approx(expected, rel=1e-9)


def test_steady_mser5_cuts_a_low_start_and_keeps_a_congested_one(mm2: jobsim.RunResult) -> None:
    # This run is congested early: plain MSER-5 would delete that stretch (and bias the mean
    # wait low); it waited longer than the rest, so it is not the empty start, and is kept.
    waits = mm2.jobs["wait"].to_numpy()
    proposed = mser(waits)
    assert proposed > 0 and waits[:proposed].mean() > waits[proposed:].mean()
    kept = mm2.steady()
    assert kept.settings["warmup_jobs"] == 0 and len(kept.jobs) == 4000
    # M/M/2 at 95 % whose start is low: the cut is taken.
    slow = simulate(
        Workload(4000, Poisson(1.9), Exponential(1.0), seed=5), workers=2, capacity=4000
    )
    waits = slow.jobs["wait"].to_numpy()
    trimmed = slow.steady()
    cut = trimmed.settings["warmup_jobs"]
    assert cut == mser(waits) > 0 and waits[:cut].mean() < waits[cut:].mean()
    assert len(trimmed.jobs) == 4000 - cut
    assert 0.8 < trimmed.summary["utilisation"] < 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"warmup": "mser"}, "warmup must be 'mser5'"),
        ({"jobs": 10, "seconds": 1.0}, "one of warmup='mser5', seconds= or jobs="),
        ({"jobs": -1}, "jobs must be an integer from 0 to 99"),
        ({"jobs": 100}, "jobs must be an integer from 0 to 99"),
        ({"seconds": -1.0}, "seconds must be a number >= 0"),
        ({"seconds": 1e9}, "nothing finishes after the cut"),
        ({"metric": "nope"}, "metric must be a column"),
    ],
)
def test_steady_bad_arguments(kwargs: dict, match: str) -> None:
    result = simulate(Workload(100, Batch(), Constant(1.0)), workers=10)
    with pytest.raises(ValueError, match=match):
        result.steady(**kwargs)
