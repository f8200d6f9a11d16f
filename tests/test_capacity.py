"""Records of capacity and cost: RunResult.workers, worker_seconds, cost_per_job, windows."""

from __future__ import annotations

import numpy as np
import pytest

from jobsim import (
    Autoscaler,
    Batch,
    Constant,
    Exponential,
    Schedule,
    Sinusoid,
    Workload,
    simulate,
)
from jobsim.capacity import WINDOW_COLUMNS, integral


def test_a_fixed_pool_costs_workers_times_makespan() -> None:
    result = simulate(Workload(100, Batch(), Constant(1.0)), workers=10, engine="pool")
    s = result.summary
    assert s["makespan"] == 10.0
    assert s["worker_seconds"] == 100.0
    assert s["cost_per_job"] == 1.0
    assert s["utilisation"] == 1.0
    timeline = result.workers
    assert list(timeline.columns) == ["time", "workers", "busy"]
    assert timeline["workers"].iloc[0] == 10 and timeline["busy"].max() == 10


def test_a_schedule_shows_in_the_workers_series_and_its_cost() -> None:
    """2 workers for 10 s, then 6: 60 jobs x 1 s at t=0. Cost = the area under workers."""
    result = simulate(
        Workload(60, Batch(), Constant(1.0)),
        workers=2,
        scaler=Schedule([(0, 2), (10, 6)]),
    )
    s = result.summary
    timeline = result.workers
    at_5 = timeline[timeline["time"] <= 5].iloc[-1]
    at_11 = timeline[timeline["time"] <= 11].iloc[-1]
    assert (at_5["workers"], at_11["workers"]) == (2, 6)
    # 20 jobs in the first 10 s, the other 40 on 6 workers: 7 more rounds (ceil(40 / 6)).
    assert s["makespan"] == 17.0
    assert s["worker_seconds"] == integral(timeline, "workers", 0, s["makespan"])
    assert s["worker_seconds"] == pytest.approx(2 * 10 + 6 * 7)
    assert s["cost_per_job"] == pytest.approx(s["worker_seconds"] / 60)
    assert s["utilisation"] == pytest.approx(60 / s["worker_seconds"])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_autoscaler_stays_in_bounds_over_a_daily_cycle(backend: str) -> None:
    workload = Workload(3000, Sinusoid(3.0, 2.5, 600.0), Exponential(1.0), seed=3)
    scaler = Autoscaler(min=2, max=7, target=1.0, interval=5.0, down_cooldown=20.0)
    result = simulate(workload, workers=2, capacity=10_000, scaler=scaler, backend=backend)
    workers = result.workers
    # From the last arrival on, the pool drains and shuts down: idle workers leave.
    running = workers[workers["time"] < result.jobs["submitted"].max()]
    assert running["workers"].between(2, 7).all()
    assert running["workers"].max() == 7 and running["workers"].min() == 2  # it did scale
    assert (workers["busy"] <= workers["workers"]).all()
    s = result.summary
    assert s["completed"] == 3000 and s["lost"] == 0
    assert s["worker_seconds"] == pytest.approx(integral(workers, "workers", 0, s["makespan"]))
    assert s["worker_seconds"] < 7 * s["makespan"]  # cheaper than a pool sized for the peak


def test_windows_add_up_to_the_run() -> None:
    workload = Workload(2000, Sinusoid(2.0, 1.5, 400.0), Exponential(1.0), seed=5)
    result = simulate(workload, workers=6, capacity=10_000)
    windows = result.windows(50.0)
    assert list(windows.columns) == WINDOW_COLUMNS
    assert windows["start"].iloc[0] == 0 and (np.diff(windows["start"]) == 50).all()
    assert windows["arrivals"].sum() == 2000
    assert windows["completed"].sum() == 2000
    assert windows["worker_seconds"].sum() == pytest.approx(result.summary["worker_seconds"])
    assert windows["workers"].eq(6).all()
    # the load follows the sine: busiest windows near the peak (t = 100, 500), quiet near 300
    busiest = windows.loc[windows["arrivals"].idxmax(), "start"]
    assert busiest in (50.0, 100.0, 450.0, 500.0)
    with pytest.raises(ValueError, match="windows seconds must be a finite number > 0"):
        result.windows(0)


def test_the_capacity_plot_draws_load_workers_and_latency_on_one_time_axis() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from jobsim import plot

    workload = Workload(600, Sinusoid(2.0, 1.5, 200.0), Exponential(1.0), seed=2)
    result = simulate(workload, workers=1, capacity=10_000, scaler=Autoscaler(min=1, max=5))
    ax = plot.capacity(result, window=20.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["arrivals/s", "workers (mean)", "busy workers"]
    twin = next(other for other in ax.figure.axes if other is not ax)
    assert twin.get_ylabel() == "p95 latency (s)" and ax.get_xlabel() == "time (s)"
    workers = ax.get_lines()[1].get_ydata()
    assert max(workers) > 1  # the autoscaler grew the pool for the peak
    assert "worker-seconds" in ax.get_title()
    with pytest.raises(ValueError, match="window must be a finite number > 0"):
        plot.capacity(result, window=-1)
