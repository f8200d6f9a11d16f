"""simulate's backpressure made visible: a full channel that held up a timed workload's
arrivals gives one clear warning, and ``RunResult.jobs`` keeps the planned arrival
(``arrived``) next to the actual submission (``submitted``)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from jobsim import (
    BackpressureWarning,
    Batch,
    Constant,
    Exponential,
    Poisson,
    Workload,
    simulate,
    sweep,
)

# M/M/10 at 120 % load: the queue grows without bound, so a small channel fills up.
OVERLOADED = Workload(2000, Poisson(12.0), Exponential(1.0), seed=1)


def _quiet(**kwargs: object) -> pd.DataFrame:
    """Run and fail on any BackpressureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackpressureWarning)
        return simulate(**kwargs).jobs  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("engine", "backend"), [("pool", "asyncio"), ("pool", "trio"), ("recursion", "asyncio")]
)
def test_a_blocked_producer_warns_once_and_shows_planned_arrivals(
    engine: str, backend: str
) -> None:
    with pytest.warns(BackpressureWarning) as caught:
        blocked = simulate(OVERLOADED, workers=10, capacity=100, engine=engine, backend=backend)
    ours = [w for w in caught if issubclass(w.category, BackpressureWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "capacity=100" in message and "capacity=2000" in message, message
    assert f"{blocked.settings['blocked_submits']} of 2000 jobs" in message
    # The warning points at the caller's line, not at jobsim's insides.
    assert ours[0].filename == __file__

    jobs = blocked.jobs
    assert list(jobs.columns[jobs.columns.get_loc("arrived") :][:2]) == ["arrived", "submitted"]
    planned = OVERLOADED.plan(OVERLOADED.seed).arrivals
    assert jobs["arrived"].tolist() == pytest.approx(planned, abs=1e-9)
    late = jobs["submitted"] - jobs["arrived"]
    assert late.min() > -1e-9 and late.max() > 10  # held up by many seconds at the end
    # The point of the warning: the blocked run understates the open system's waits.
    open_system = _quiet(workload=OVERLOADED, workers=10, capacity=2000, engine=engine)
    assert open_system["wait"].quantile(0.99) > 2 * jobs["wait"].quantile(0.99)


def test_the_open_system_and_a_batch_do_not_warn() -> None:
    jobs = _quiet(workload=OVERLOADED, workers=10, capacity=OVERLOADED.jobs, engine="pool")
    assert (jobs["submitted"] - jobs["arrived"]).abs().max() < 1e-9  # on time, every one
    # A batch is a closed burst: the producer waiting for room is the scenario, not an error.
    burst = _quiet(workload=Workload(500, Batch(), Constant(1.0)), workers=10, capacity=100)
    assert (burst["arrived"] == 0).all() and burst["submitted"].max() > 0


def test_both_engines_count_the_same_blocked_submits() -> None:
    with pytest.warns(BackpressureWarning):
        pool = simulate(OVERLOADED, workers=10, capacity=50, engine="pool")
    with pytest.warns(BackpressureWarning):
        recursion = simulate(OVERLOADED, workers=10, capacity=50, engine="recursion")
    assert pool.settings["blocked_submits"] == recursion.settings["blocked_submits"] > 0
    pd.testing.assert_frame_equal(pool.jobs, recursion.jobs, check_exact=True)


def test_a_sweep_warns_once_for_all_its_runs() -> None:
    small = Workload(400, Poisson(12.0), Exponential(1.0), seed=2)
    with pytest.warns(BackpressureWarning) as caught:
        sweep(small, workers=[2, 4], repeats=2, capacity=20, progress=False)
    ours = [w for w in caught if issubclass(w.category, BackpressureWarning)]
    assert len(ours) == 1
    assert str(ours[0].message).startswith("4 of 4 runs of this sweep")
