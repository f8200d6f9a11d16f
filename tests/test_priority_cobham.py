"""The real pool with priority dispatch reproduces Cobham's formula.

Two job classes (Poisson arrivals, one exponential service time, non-preemptive priority) run
through the pool in virtual time on parameter sets drawn at random (servers, load, class
split; from a fixed seed, so a failure can be replayed, but not picked by hand). For each
class, the mean wait of Cobham's formula must lie inside the 95 % batch-means interval of the
simulated waits (in arrival order, warm-up cut). The test makes 2 x 3 such comparisons and
all must pass, so each interval is a Bonferroni-corrected 1 - 0.05/6 one: together they are
a simultaneous 95 % interval (six separate 95 % checks would fail one time in four by chance).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from jobsim import Exponential, Mix, Poisson, Workload, simulate
from jobsim.theory import priority_mmc

JOBS = 40_000
WARM_UP = 0.1  # share of the jobs cut from the start
CASES = 3
BATCHES = 25
CONFIDENCE = 1 - 0.05 / (2 * CASES)  # Bonferroni: simultaneous 95 % over every check


def batch_means_ci(values: np.ndarray) -> tuple[float, float]:
    """The ``CONFIDENCE`` interval of the mean from ``BATCHES`` contiguous batch means."""
    usable = len(values) // BATCHES * BATCHES
    means = values[len(values) - usable :].reshape(BATCHES, -1).mean(axis=1)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, BATCHES - 1) * means.std(ddof=1) / np.sqrt(BATCHES)
    return float(means.mean() - half), float(means.mean() + half)


def _cases(n: int, seed: int = 20_261_129) -> list[tuple[int, float, float, int]]:
    rng = np.random.default_rng(seed)
    return [
        (
            int(rng.choice([1, 2, 4, 8])),  # servers
            float(rng.uniform(0.5, 0.85)),  # total load
            float(rng.uniform(0.2, 0.6)),  # the urgent class's share of the arrivals
            int(rng.integers(1_000_000)),  # the run's seed
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize(("servers", "load", "share", "seed"), _cases(CASES))
def test_per_class_mean_waits_match_cobham(
    servers: int, load: float, share: float, seed: int
) -> None:
    rate = load * servers  # mean service 1 s
    urgent_jobs = round(JOBS * share)
    mix = Mix(
        urgent=Workload(urgent_jobs, Poisson(rate * share), Exponential(1.0), priority=1),
        bulk=Workload(JOBS - urgent_jobs, Poisson(rate * (1 - share)), Exponential(1.0)),
        seed=seed,
    )
    result = simulate(mix, workers=servers, capacity=JOBS, dispatch="priority")
    assert result.settings["engine"] == "pool"
    jobs = result.jobs.sort_values("index")
    # Both classes arrive over the same span; cut the warm-up by arrival time.
    cut = jobs["submitted"].quantile(WARM_UP)
    theory = {
        c.name: c.wq
        for c in priority_mmc({"urgent": rate * share, "bulk": rate * (1 - share)}, 1.0, servers)
    }
    # The two streams end at different times: keep the span where both still arrive.
    end = jobs.groupby("job_class")["submitted"].max().min()
    for name in ("urgent", "bulk"):
        mine = jobs[(jobs["job_class"] == name) & jobs["submitted"].between(cut, end)]
        low, high = batch_means_ci(mine["wait"].to_numpy())
        assert low <= theory[name] <= high, (
            f"{name}: Cobham Wq={theory[name]:.4f} outside the simulated simultaneous 95% CI "
            f"[{low:.4f}, {high:.4f}] (servers={servers}, load={load:.3f}, share={share:.3f})"
        )
    urgent = result.by_class()
    assert urgent.loc["urgent", "wait_mean"] < urgent.loc["bulk", "wait_mean"]
