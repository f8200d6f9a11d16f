"""Load that changes over time: counts per window match the integral of the rate."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from jobsim import Constant, Workload, simulate
from jobsim.workload import Piecewise, Sinusoid, Spike, Trace

SEEDS = range(200)


def counts_per_window(arrivals: object, n: int, edges: np.ndarray) -> np.ndarray:
    """Arrivals per window over many seeds: one row per seed."""
    rows = []
    for seed in SEEDS:
        times = arrivals.times(n, np.random.default_rng(seed))  # type: ignore[attr-defined]
        assert len(times) == n and (np.diff(times) >= 0).all()
        assert times[-1] >= edges[-1], "draw enough arrivals to cover every window"
        rows.append(np.histogram(times, bins=edges)[0])
    return np.array(rows)


@pytest.mark.parametrize(
    ("arrivals", "n", "edges"),
    [
        (Sinusoid(mean=4.0, amplitude=3.0, period=100.0), 1_000, np.arange(0, 201, 20.0)),
        (Piecewise([(0, 1.0), (30, 6.0), (60, 2.0)]), 600, np.array([0, 15, 30, 45, 60, 90.0])),
        (Spike(base=1.0, peak=20.0, at=40.0, duration=5.0), 300, np.arange(0, 101, 5.0)),
    ],
    ids=["sinusoid", "piecewise", "spike"],
)
def test_counts_per_window_match_the_integral_of_the_rate(
    arrivals: Sinusoid | Piecewise | Spike, n: int, edges: np.ndarray
) -> None:
    counts = counts_per_window(arrivals, n, edges)
    expected = np.array([arrivals.expected(a, b) for a, b in itertools.pairwise(edges)])
    # Poisson counts: mean = variance = the integral; the mean over 200 seeds is within
    # 4 standard errors of it in every window.
    error = np.sqrt(expected / len(SEEDS))
    assert (np.abs(counts.mean(axis=0) - expected) < 4 * error + 1e-9).all(), (
        counts.mean(axis=0),
        expected,
    )
    # ...and the spread is Poisson's too (variance / mean near 1).
    dispersion = counts.var(axis=0, ddof=1) / expected
    assert (np.abs(dispersion - 1) < 0.35).all(), dispersion


def test_rate_curves_are_seeded() -> None:
    curve = Sinusoid(2.0, 1.0, 60.0)
    a = curve.times(500, np.random.default_rng(7))
    assert np.array_equal(a, curve.times(500, np.random.default_rng(7)))
    assert not np.array_equal(a, curve.times(500, np.random.default_rng(8)))


def test_trace_replays_the_given_times_exactly(tmp_path: Path) -> None:
    recorded = [0.0, 0.25, 0.25, 1.5, 4.0]
    result = simulate(Workload(5, Trace(recorded), Constant(0.1)), workers=2)
    assert result.jobs.sort_values("index")["submitted"].tolist() == recorded
    csv = tmp_path / "arrivals.csv"
    csv.write_text("at,other\n100.5,x\n101.0,y\n103.0,z\n")
    trace = Trace.from_csv(csv, "at", relative=True)
    assert trace.times(3, np.random.default_rng(0)).tolist() == [0.0, 0.5, 2.5]
    with pytest.raises(ValueError, match="Trace has 3 arrival times, fewer than the 4 jobs"):
        trace.times(4, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Sinusoid(1.0, 2.0, 10.0), "amplitude must be <= mean"),
        (lambda: Piecewise([(5, 1.0)]), "starting at time 0"),
        (lambda: Piecewise([(0, 1.0), (0, 2.0)]), "times must increase"),
        (lambda: Piecewise([(0, 1.0), (10, 0.0)]), "last rate must be > 0"),
        (lambda: Spike(0.0, 5.0, 1.0, 1.0), "Spike.base"),
        (lambda: Trace([2.0, 1.0]), "non-decreasing"),
        (lambda: Trace([]), "at least one"),
        (lambda: Trace([-1.0, 0.0]), ">= 0"),
    ],
)
def test_bad_curves_name_what_is_wrong(make: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make()  # type: ignore[operator]
