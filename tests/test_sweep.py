"""sweep() and plot.scaling as a new user meets them: speedup only where it means something,
any metric drawable, and mistakes answered with what to pass."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from jobsim import Batch, Constant, Exponential, Poisson, Workload, plot, sweep


def test_speedup_only_for_a_closed_workload() -> None:
    closed = sweep(
        Workload(20, Batch(), Constant(1.0)), workers=[1, 2, 4], repeats=1, progress=False
    )
    assert closed.set_index("workers")["speedup"].to_dict() == {1: 1.0, 2: 2.0, 4: 4.0}
    # Open: arrivals set the makespan, whatever the workers; a speedup would read ~1.0.
    mm = Workload(200, Poisson(2.0), Exponential(1.0), seed=3)
    open_ = sweep(mm, workers=[3, 6], repeats=1, capacity=200, progress=False)
    assert "speedup" not in open_.columns
    assert open_.set_index("workers")["wait_p95"][3] > open_.set_index("workers")["wait_p95"][6]


@pytest.mark.parametrize(
    ("metric", "ylabel"),
    [
        ("throughput", "throughput (jobs/s)"),
        ("latency_p99", "latency_p99 (s)"),
        ("utilisation", "utilisation"),
    ],
)
def test_plot_scaling_draws_any_metric_of_a_sweep(metric: str, ylabel: str) -> None:
    mm = Workload(200, Poisson(2.0), Exponential(1.0), seed=3)
    frame = sweep(mm, workers=[3, 6], repeats=2, capacity=200, progress=False)
    ax = plot.scaling(frame, metric=metric)
    assert ax.get_ylabel() == ylabel
    [line] = [c for c in ax.containers]
    drawn = line.lines[0].get_ydata()
    expected = frame.groupby("workers")[metric].median().to_numpy()
    assert list(drawn) == pytest.approx(list(expected))
    ideal = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ("ideal (linear)" in ideal) == (metric == "throughput")
    plt.close("all")


def test_plot_scaling_of_an_open_sweep_defaults_to_throughput_and_explains_speedup() -> None:
    mm = Workload(100, Poisson(2.0), Exponential(1.0), seed=3)
    frame = sweep(mm, workers=[2, 4], repeats=1, capacity=100, progress=False)
    assert plot.scaling(frame).get_ylabel() == "throughput (jobs/s)"
    with pytest.raises(ValueError, match=r"speedup only for a closed workload.*latency_p99"):
        plot.scaling(frame, metric="speedup")
    plt.close("all")


def test_sweep_with_one_worker_count_says_what_to_pass() -> None:
    with pytest.raises(TypeError, match=r"list of worker counts.*workers=\[10\].*simulate"):
        sweep(Workload(10), workers=10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        ((10, Poisson), r"class Poisson; pass one: Poisson\(rate\)"),
        ((10, Batch), r"class Batch; pass one: Batch\(\)"),
        (
            (10, Batch(), Exponential),
            r"Workload.service .* class Exponential; pass one: Exponential\(mean\)",
        ),
    ],
)
def test_a_class_instead_of_an_instance_says_what_to_pass(args: tuple, hint: str) -> None:
    with pytest.raises(TypeError, match=hint):
        Workload(*args)
