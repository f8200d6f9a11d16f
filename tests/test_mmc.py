"""The real pool in virtual time reproduces queueing theory (M/M/c, Erlang C).

Runs start empty, so each one's warm-up is cut by MSER-5 (``RunResult.steady``) and the mean
wait is estimated by batch means (``jobsim.analysis.batch_means``: waits of successive jobs are
correlated, so a plain standard error would be far too narrow).
"""

from __future__ import annotations

import pytest
from scipy import stats

from jobsim import Constant, Exponential, Poisson, Workload, simulate
from jobsim.analysis import batch_means, t_interval
from jobsim.theory import md1, mmc

JOBS = 50_000
BATCHES = 25


@pytest.mark.parametrize(
    ("load", "servers", "seed"),
    [(0.5, 1, 11), (0.8, 10, 12), (0.9, 20, 13)],
    ids=["M/M/1 rho=0.5", "M/M/10 rho=0.8", "M/M/20 rho=0.9"],
)
def test_mean_wait_matches_erlang_c(load: float, servers: int, seed: int) -> None:
    rate = load * servers  # mean service 1 s
    workload = Workload(JOBS, Poisson(rate), Exponential(1.0), seed=seed)
    # The real pool (not the recursion that would compute the same records): open system.
    result = simulate(workload, workers=servers, capacity=JOBS, engine="pool").steady()
    interval = batch_means(result.jobs["wait"], batches=BATCHES)
    theory = mmc(rate, 1.0, servers)
    assert interval.covers(theory.wq), f"Erlang C Wq={theory.wq:.4f} outside {interval}"
    # Utilisation, Lq and L agree as well (time averages over the steady window).
    assert result.summary["utilisation"] == pytest.approx(load, rel=0.03)
    assert result.summary["lq"] == pytest.approx(theory.lq, rel=0.15)
    assert result.summary["l"] == pytest.approx(theory.l, rel=0.05)


def test_constant_service_matches_pollaczek_khinchine() -> None:
    """M/D/1 waits half as long as M/M/1 at the same load: the pool sees it too."""
    workload = Workload(JOBS, Poisson(0.7), Constant(1.0), seed=14)
    result = simulate(workload, workers=1, capacity=JOBS, engine="pool").steady()
    assert batch_means(result.jobs["wait"], batches=BATCHES).covers(md1(0.7, 1.0).wq)


# Coverage: how often the interval of one run contains the truth, over many seeds. Batch means
# is exact only in the limit; in runs this short the skewed, correlated waits make it cover a
# little less than its nominal 95 % (about 89 % for M/M/1 at 0.5 and 84 % for M/M/3 at 0.6
# over 400 seeds of an independent Lindley-recursion simulation of the same queue). The test
# asks that the observed coverage be compatible with at least 80 % (one-sided binomial test at
# the 0.1 % level), and that the naive interval, which ignores the correlation, covers far
# less: that is the difference batch means makes. The runs take simulate's default engine,
# which computes the pool's very records by recursion (tests/test_recursion.py), so many
# seeds stay cheap.
SEEDS = 60
COVERAGE_JOBS = 4000


@pytest.mark.slow
@pytest.mark.parametrize(
    ("load", "servers"), [(0.5, 1), (0.6, 3)], ids=["M/M/1 rho=0.5", "M/M/3 rho=0.6"]
)
def test_mser5_and_batch_means_cover_erlang_c(load: float, servers: int) -> None:
    rate = load * servers
    wq = mmc(rate, 1.0, servers).wq
    covered = naive = 0
    for seed in range(SEEDS):
        workload = Workload(COVERAGE_JOBS, Poisson(rate), Exponential(1.0), seed=1000 + seed)
        waits = simulate(workload, workers=servers, capacity=COVERAGE_JOBS).steady().jobs["wait"]
        covered += batch_means(waits, batches=10).covers(wq)
        naive += t_interval(waits).covers(wq)
    assert stats.binom.sf(covered - 1, SEEDS, 0.80) > 0.001, (
        f"batch means covered Erlang C's Wq={wq:.4f} in {covered}/{SEEDS} runs"
    )
    assert naive < 0.6 * SEEDS < covered, f"naive {naive}/{SEEDS}, batch means {covered}/{SEEDS}"
