"""The real pool in virtual time reproduces queueing theory (M/M/c, Erlang C).

Each case runs >= 50,000 Poisson arrivals with exponential service through the pool on the
virtual clock, cuts a warm-up, and checks that Erlang C's mean wait lies inside the 95%
batch-means confidence interval of the simulated waits (waits of successive jobs are
correlated, so a plain standard error would be too narrow).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from jobsim import Exponential, Poisson, Workload, simulate
from jobsim.theory import md1, mmc

JOBS = 50_000
WARM_UP = 5_000
BATCHES = 25


def batch_means_ci(values: np.ndarray, batches: int = BATCHES) -> tuple[float, float]:
    """95% confidence interval of the mean from ``batches`` contiguous batch means."""
    usable = len(values) // batches * batches
    means = values[:usable].reshape(batches, -1).mean(axis=1)
    half = stats.t.ppf(0.975, batches - 1) * means.std(ddof=1) / np.sqrt(batches)
    return float(means.mean() - half), float(means.mean() + half)


@pytest.mark.parametrize(
    ("load", "servers", "seed"),
    [(0.5, 1, 11), (0.8, 10, 12), (0.9, 20, 13)],
    ids=["M/M/1 rho=0.5", "M/M/10 rho=0.8", "M/M/20 rho=0.9"],
)
def test_mean_wait_matches_erlang_c(load: float, servers: int, seed: int) -> None:
    rate = load * servers  # mean service 1 s
    workload = Workload(JOBS, Poisson(rate), Exponential(1.0), seed=seed)
    result = simulate(
        workload, workers=servers, capacity=JOBS, engine="pool"
    )  # open system: never blocks
    waits = result.jobs["wait"].to_numpy()[WARM_UP:]
    low, high = batch_means_ci(waits)
    theory = mmc(rate, 1.0, servers)
    assert low <= theory.wq <= high, (
        f"Erlang C Wq={theory.wq:.4f} outside the simulated 95% CI [{low:.4f}, {high:.4f}]"
    )
    # Utilisation agrees with rho as well (the workers' busy share over the run).
    assert result.summary["utilisation"] == pytest.approx(load, rel=0.03)


def test_constant_service_matches_pollaczek_khinchine() -> None:
    """M/D/1 waits half as long as M/M/1 at the same load: the pool sees it too."""
    from jobsim import Constant

    workload = Workload(JOBS, Poisson(0.7), Constant(1.0), seed=14)
    waits = (
        simulate(workload, workers=1, capacity=JOBS, engine="pool")
        .jobs["wait"]
        .to_numpy()[WARM_UP:]
    )
    low, high = batch_means_ci(waits)
    assert low <= md1(0.7, 1.0).wq <= high
