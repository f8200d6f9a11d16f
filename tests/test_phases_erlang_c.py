"""A load that steps between long phases: each phase's mean wait is Erlang C's for its rate.

Between the steps the pool is an M/M/c queue at that phase's rate, so once the transient after
a step has passed, the waits of the jobs arriving in a phase must agree with Erlang C for that
rate and worker count, inside a batch-means interval. The same intervals must *exclude* the
neighbouring phase's Erlang C wait, so the check can tell the phases apart (it can fail).
"""

from __future__ import annotations

import pytest

from jobsim import Exponential, Workload, simulate
from jobsim.analysis import batch_means
from jobsim.theory import mmc
from jobsim.workload import Piecewise

WORKERS = 10
PHASE = 6_000.0  # seconds per phase: thousands of mean service times
SETTLE = 300.0  # seconds after a step before the phase counts (the transient)
PHASES = [(0.0, 4.0), (PHASE, 8.5), (2 * PHASE, 6.0)]  # loads 0.40, 0.85, 0.60 on 10 workers


@pytest.fixture(scope="module")
def jobs():  # type: ignore[no-untyped-def]
    n = int(sum(rate * PHASE for _, rate in PHASES))
    workload = Workload(n, Piecewise(PHASES), Exponential(1.0), seed=11)
    # The pool itself in virtual time (open system: no backpressure).
    result = simulate(workload, workers=WORKERS, capacity=n, engine="pool")
    return result.jobs


def phase_interval(jobs, start: float):  # type: ignore[no-untyped-def]
    arriving = jobs[(jobs["arrived"] >= start + SETTLE) & (jobs["arrived"] < start + PHASE)]
    waits = arriving.sort_values("arrived")["wait"].to_numpy()
    return batch_means(waits, batches=20, confidence=0.99)


@pytest.mark.parametrize("phase", range(len(PHASES)), ids=["rate 4", "rate 8.5", "rate 6"])
def test_each_phase_waits_as_erlang_c_for_its_rate(jobs, phase: int) -> None:  # type: ignore[no-untyped-def]
    start, rate = PHASES[phase]
    interval = phase_interval(jobs, start)
    expected = mmc(rate, 1.0, WORKERS).wq
    assert interval.covers(expected), (
        f"phase at {rate} jobs/s: Erlang C Wq {expected:.4f} s outside {interval}"
    )
    # The neighbouring phases' Wq differ enough that the same interval rules them out.
    for _, other_rate in PHASES:
        if other_rate != rate:
            other = mmc(other_rate, 1.0, WORKERS).wq
            assert not interval.covers(other), (
                f"phase at {rate} jobs/s cannot be told from {other_rate} jobs/s: {interval}"
            )


def test_the_busy_phase_is_drained_before_the_next_counts(jobs) -> None:  # type: ignore[no-untyped-def]
    # The transient after the busy phase dies out well inside SETTLE: jobs arriving in the
    # last tenth of the settle window already wait like the quiet phase.
    start = 2 * PHASE
    late = jobs[(jobs["arrived"] >= start + 0.9 * SETTLE) & (jobs["arrived"] < start + SETTLE)]
    assert late["wait"].mean() < 3 * mmc(6.0, 1.0, WORKERS).wq + 0.05
