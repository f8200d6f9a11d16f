"""Plot helpers: each draws what its frame says, labels it, and returns the Axes it drew on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests only: the library never picks a backend

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from jobsim import plot


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


# --- frames built by hand ---------------------------------------------------------------------


@pytest.fixture
def bench() -> pd.DataFrame:
    """Three repeats at 1, 2, 4 workers on two backends; speedup relative to 1 worker."""
    rows = []
    for backend, factor in (("asyncio", 1.0), ("trio", 0.9)):
        for workers, throughputs in (
            (1, [1.0, 0.9, 1.1]),
            (2, [1.9, 2.0, 1.7]),
            (4, [3.0, 3.4, 3.2]),
        ):
            for repeat, t in enumerate(throughputs):
                rows.append(
                    {
                        "suite": "scaling",
                        "backend": backend,
                        "workers": workers,
                        "repeat": repeat,
                        "throughput_jobs_s": t * factor,
                        "speedup": t,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def jobs() -> pd.DataFrame:
    """Six jobs on worker-2 and worker-10 (natural order), one failed, one stuck, one never run."""
    rows = [
        ("a", "worker-10", "completed", 0.0, 0.0, 1.0),
        ("b", "worker-2", "completed", 0.0, 0.0, 2.0),
        ("c", "worker-10", "failed", 0.0, 1.0, 1.5),
        ("d", "worker-10", "completed", 0.5, 1.5, 3.0),
        ("e", "worker-2", "processing", 1.0, 2.0, None),
        ("f", None, "pending", 1.0, None, None),
    ]
    frame = pd.DataFrame(
        rows, columns=["job_id", "worker_id", "status", "submitted", "started", "finished"]
    )
    frame["attempts"] = frame["started"].notna().astype(int)
    frame["wait"] = frame["started"] - frame["submitted"]
    frame["service"] = frame["finished"] - frame["started"]
    frame["latency"] = frame["finished"] - frame["submitted"]
    return frame


@pytest.fixture
def depth() -> pd.DataFrame:
    return pd.DataFrame({"time": [0.0, 0.0, 1.0, 2.5, 4.0], "depth": [0, 5, 3, 4, 0]})


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (0.0, "server", "stop intake"),
            (0.0, "channel", "close channel"),
            (0.1, "producer", "send -> ClosedResourceError"),
            (1.0, "worker-1", "finish job 7"),
            (1.0, "worker-1", "exit"),
            (1.2, "pool", "all workers joined"),
        ],
        columns=["time", "actor", "event"],
    )


def xdata(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_xdata(), dtype=float)


def ydata(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "expected a legend"
    return [t.get_text() for t in legend.get_texts()]


# --- scaling ----------------------------------------------------------------------------------


def test_scaling_draws_medians_with_ci_and_the_ideal_line(bench: pd.DataFrame) -> None:
    one = bench[bench["backend"] == "asyncio"]
    ax = plot.scaling(one)
    [bars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    line = bars.lines[0]
    assert list(xdata(line)) == [1, 2, 4]
    assert list(ydata(line)) == pytest.approx([1.0, 1.9, 3.2])  # medians of the repeats
    segments = bars.lines[2][0].get_segments()  # the vertical CI bars
    assert all(seg[1][1] > seg[0][1] for seg in segments)  # repeats differ -> CI has width
    [ideal] = [ln for ln in ax.get_lines() if ln.get_label() == "ideal (linear)"]
    assert list(ydata(ideal)) == pytest.approx([1.0, 2.0, 4.0])  # median at 1 x workers
    assert ax.get_xlabel() == "workers"
    assert ax.get_ylabel().startswith("speedup")
    assert "Speedup" in ax.get_title()
    assert legend_texts(ax) == ["measured (median, 95% CI)", "ideal (linear)"]


def test_scaling_one_line_per_group_and_throughput_units(bench: pd.DataFrame) -> None:
    ax = plot.scaling(bench, metric="throughput", by="backend")
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    assert ax.get_ylabel() == "throughput (jobs/s)"
    texts = legend_texts(ax)
    assert any("backend = asyncio" in t for t in texts)
    assert any("backend = trio" in t for t in texts)
    assert "ideal (linear)" in texts


def test_scaling_single_rows_have_no_ci_and_into_given_ax(bench: pd.DataFrame) -> None:
    medians = (
        bench[bench["backend"] == "asyncio"]
        .groupby("workers", as_index=False)
        .median(numeric_only=True)
    )
    _fig, (left, right) = plt.subplots(1, 2)
    ax = plot.scaling(medians, ax=right)
    assert ax is right
    assert not left.has_data()
    assert legend_texts(ax)[0] == "measured"
    [bars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert all(seg[1][1] == seg[0][1] for seg in bars.lines[2][0].get_segments())


def test_scaling_rejects_frames_it_cannot_draw(bench: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no column for metric 'throughput'"):
        plot.scaling(bench[["workers"]], metric="throughput")
    with pytest.raises(ValueError, match=r"no column for metric 'latency'; it can plot \["):
        plot.scaling(bench, metric="latency")
    with pytest.raises(ValueError, match="'nope'"):
        plot.scaling(bench, by="nope")


# --- timeline ---------------------------------------------------------------------------------


def test_timeline_one_row_per_worker_one_bar_per_job(jobs: pd.DataFrame) -> None:
    ax = plot.timeline(jobs)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker-2", "worker-10"]
    collections = [c for c in ax.collections if isinstance(c, PolyCollection)]
    # (worker-2, completed), (worker-2, processing), (worker-10, completed), (worker-10, failed)
    assert len(collections) == 4
    assert sum(len(c.get_paths()) for c in collections) == 5  # job f never started: no bar
    assert legend_texts(ax) == ["completed", "failed", "processing"]
    assert ax.get_xlabel() == "time (s)"
    assert ax.get_ylabel() == "worker"
    assert "5 jobs, 2 workers" in ax.get_title()


def test_timeline_bars_span_started_to_finished(jobs: pd.DataFrame) -> None:
    ax = plot.timeline(jobs)
    extents = sorted(
        (round(float(x.min()), 6), round(float(x.max()), 6))
        for c in ax.collections
        for x in (np.asarray(p.vertices)[:, 0] for p in c.get_paths())
    )
    # job e is still running: drawn up to the last time in the frame (3.0)
    assert extents == [(0.0, 1.0), (0.0, 2.0), (1.0, 1.5), (1.5, 3.0), (2.0, 3.0)]


def test_timeline_colours_by_status(jobs: pd.DataFrame) -> None:
    ax = plot.timeline(jobs)
    legend = ax.get_legend()
    assert legend is not None
    handles = [h for h in legend.legend_handles if isinstance(h, Patch)]
    colours = {
        t.get_text(): h.get_facecolor() for t, h in zip(legend.get_texts(), handles, strict=True)
    }
    assert colours["failed"] == pytest.approx(matplotlib.colors.to_rgba("tab:red"))
    assert colours["completed"] == pytest.approx(matplotlib.colors.to_rgba("tab:green"))


def test_timeline_needs_started_jobs(jobs: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no job with a worker_id and a started time"):
        plot.timeline(jobs[jobs["started"].isna()])
    with pytest.raises(ValueError, match=r"jobs is missing column\(s\) \['worker_id'\]"):
        plot.timeline(jobs.drop(columns="worker_id"))


# --- latency CDF ------------------------------------------------------------------------------


def test_latency_cdf_steps_to_one_and_marks_percentiles(jobs: pd.DataFrame) -> None:
    ax = plot.latency_cdf(jobs)
    values = jobs["latency"].dropna().to_numpy(float)  # 1.0, 2.0, 1.5, 2.5
    cdf = ax.get_lines()[0]
    assert ydata(cdf)[-1] == pytest.approx(1.0)
    assert ydata(cdf)[0] == 0.0
    assert sorted(xdata(cdf)[1:]) == sorted(values)
    marks = {ln.get_label(): xdata(ln)[0] for ln in ax.get_lines()[1:]}
    expected = np.percentile(values, [50, 95, 99])
    assert list(marks.values()) == pytest.approx(list(expected))
    assert legend_texts(ax) == [
        "latency (n = 4)",
        f"p50 = {expected[0]:.3g} s",
        f"p95 = {expected[1]:.3g} s",
        f"p99 = {expected[2]:.3g} s",
    ]
    assert ax.get_xlabel() == "latency (s)"
    assert "CDF" in ax.get_title()


def test_latency_cdf_other_column_and_overlay(jobs: pd.DataFrame) -> None:
    ax = plot.latency_cdf(jobs, column="wait", label="run A", percentiles=[50])
    same = plot.latency_cdf(jobs, ax=ax, column="wait", label="run B", percentiles=[50])
    assert same is ax
    assert ax.get_xlabel() == "wait (s)"
    texts = legend_texts(ax)
    assert "run A" in texts and "run B" in texts
    assert len(ax.get_lines()) == 4  # two CDFs, two p50 lines


def test_latency_cdf_errors(jobs: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="missing column"):
        plot.latency_cdf(jobs, column="nope")
    with pytest.raises(ValueError, match="no values in column 'latency'"):
        plot.latency_cdf(jobs[jobs["latency"].isna()])
    with pytest.raises(ValueError, match="percentiles"):
        plot.latency_cdf(jobs, percentiles=[0.95, 100])


# --- queue depth ------------------------------------------------------------------------------


def test_queue_depth_is_a_step_plot(depth: pd.DataFrame) -> None:
    ax = plot.queue_depth(depth)
    [line] = ax.get_lines()
    assert line.get_drawstyle() == "steps-post"
    assert list(xdata(line)) == [0.0, 0.0, 1.0, 2.5, 4.0]
    assert list(ydata(line)) == [0, 5, 3, 4, 0]
    assert ax.get_xlabel() == "time (s)"
    assert ax.get_ylabel() == "queue depth (jobs)"
    assert ax.get_title()
    assert ax.get_legend() is None  # one series: no legend
    assert ax.get_ylim()[0] == 0


def test_queue_depth_overlay_gets_a_legend(depth: pd.DataFrame) -> None:
    ax = plot.queue_depth(depth, label="2 workers")
    plot.queue_depth(depth.assign(depth=depth["depth"] // 2), ax=ax, label="4 workers")
    assert legend_texts(ax) == ["2 workers", "4 workers"]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['depth'\]"):
        plot.queue_depth(depth.rename(columns={"depth": "n"}))


# --- shutdown sequence ------------------------------------------------------------------------


def test_shutdown_sequence_actors_events_and_problems(events: pd.DataFrame) -> None:
    ax = plot.shutdown_sequence(events)
    actors = [t.get_text() for t in ax.get_yticklabels()]
    assert actors == ["server", "channel", "producer", "worker-1", "pool"]
    labels = [t.get_text() for t in ax.texts]
    assert labels == [f"{i}. {e}" for i, e in enumerate(events["event"], start=1)]
    markers = [ln.get_marker() for ln in ax.get_lines()]
    assert markers.count("X") == 1  # the ClosedResourceError
    assert markers.count("o") == 5
    assert legend_texts(ax) == ["event", "problem"]
    assert ax.get_xlabel() == "time (s)"
    assert ax.get_ylabel() == "actor"
    assert "Shutdown" in ax.get_title()


def test_shutdown_sequence_problem_column_overrides_and_no_legend_without_problems(
    events: pd.DataFrame,
) -> None:
    ax = plot.shutdown_sequence(events.assign(problem=False))
    assert "X" not in [ln.get_marker() for ln in ax.get_lines()]
    assert ax.get_legend() is None
    _fig, ax2 = plt.subplots()
    flagged = events.assign(problem=[False, False, False, False, False, True])
    assert plot.shutdown_sequence(flagged, ax=ax2) is ax2
    assert [ln.get_marker() for ln in ax2.get_lines()].count("X") == 1


# --- all helpers: ax=, PNGs, laziness ---------------------------------------------------------

Call = Callable[..., Axes]


def cases(
    bench: pd.DataFrame, jobs: pd.DataFrame, depth: pd.DataFrame, events: pd.DataFrame
) -> dict[str, tuple[Call, pd.DataFrame]]:
    return {
        "scaling": (plot.scaling, bench),
        "timeline": (plot.timeline, jobs),
        "latency_cdf": (plot.latency_cdf, jobs),
        "queue_depth": (plot.queue_depth, depth),
        "shutdown_sequence": (plot.shutdown_sequence, events),
    }


@pytest.mark.parametrize(
    "name", ["scaling", "timeline", "latency_cdf", "queue_depth", "shutdown_sequence"]
)
def test_each_helper_labels_uses_ax_and_saves_a_png(
    name: str,
    bench: pd.DataFrame,
    jobs: pd.DataFrame,
    depth: pd.DataFrame,
    events: pd.DataFrame,
    tmp_path: Path,
) -> None:
    helper, frame = cases(bench, jobs, depth, events)[name]
    fresh = helper(frame)
    assert isinstance(fresh, Axes)
    _fig, given = plt.subplots()
    assert helper(frame, ax=given) is given
    for ax in (fresh, given):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert "(s)" in ax.get_xlabel() or ax.get_xlabel() == "workers"
    path = tmp_path / f"{name}.png"
    figure = fresh.figure
    assert isinstance(figure, Figure)
    figure.savefig(path)
    assert path.exists() and path.stat().st_size > 1000


def test_helpers_reject_non_frames() -> None:
    with pytest.raises(ValueError, match="must be a pandas DataFrame, got list"):
        plot.queue_depth([1, 2, 3])  # type: ignore[arg-type]


def test_importing_jobsim_does_not_import_matplotlib() -> None:
    code = (
        "import sys, jobsim\n"
        "assert 'matplotlib' not in sys.modules, 'import jobsim pulled in matplotlib'\n"
        "assert callable(jobsim.plot.timeline)\n"
        "assert 'matplotlib' in sys.modules\n"
        "from jobsim import plot\n"
        "assert plot is jobsim.plot\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
