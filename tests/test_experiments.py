"""sweep and replicate: the same frame from every executor, and replications to a precision."""

from __future__ import annotations

import concurrent.futures.process
from collections.abc import Iterator

import pandas as pd
import pytest

import jobsim
from jobsim import Exponential, Poisson, Workload, replicate, sweep, theory
from jobsim.executors import AUTO_PROCESSES, _resolve, run_one

MM = Workload(1500, Poisson(3.2), Exponential(1.0), seed=7)  # M/M/4 at 80 %


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _same(frames: list[pd.DataFrame]) -> None:
    first = frames[0].drop(columns="wall_time")
    for other in frames[1:]:
        pd.testing.assert_frame_equal(first, other.drop(columns="wall_time"), check_exact=True)


def test_sweep_gives_the_same_frame_from_every_executor(dask_client: object) -> None:
    frames = [
        sweep(MM, workers=[4, 6], repeats=2, capacity=1500, progress=False, executor=executor)
        for executor in ("serial", "processes", dask_client)
    ]
    _same(frames)
    frame = frames[0]
    assert list(frame[["workers", "repeat", "seed"]].itertuples(index=False, name=None)) == [
        (4, 0, 7),
        (6, 0, 7),
        (4, 1, 8),
        (6, 1, 8),
    ]
    assert {"lq", "l", "engine", "wall_time"} <= set(frame.columns)
    assert "speedup" not in frame.columns  # an open workload: arrivals set the makespan


def test_replicate_gives_the_same_runs_from_every_executor(dask_client: object) -> None:
    results = [
        replicate(MM, runs=4, workers=4, capacity=1500, progress=False, executor=executor)
        for executor in ("serial", "processes", dask_client)
    ]
    _same([r.runs for r in results])
    pd.testing.assert_frame_equal(results[0].intervals, results[2].intervals)


def test_long_runs_give_the_same_lq_and_l_whatever_blas_threads_the_workers_have(
    dask_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask's nanny starts its workers with one BLAS thread, and leaves OPENBLAS_NUM_THREADS=1
    # in this process's environment, so a process pool spawned after it has one too; this
    # process's BLAS was loaded with one per core. A time-weighted mean that went through BLAS
    # summed the trace of a long run (8,000 jobs: over 10,000 steps) in a thread-dependent
    # order, and lq / l differed in their last bits between serial and the others.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    long = Workload(8000, Poisson(8.0), Exponential(1.0), seed=1)  # M/M/10 at 80 %
    results = [
        replicate(
            long,
            runs=4,
            workers=10,
            capacity=8000,
            engine="recursion",
            metrics=["lq", "l"],
            progress=False,
            executor=executor,
        )
        for executor in ("serial", "processes", dask_client)
    ]
    _same([r.runs for r in results])


# warmup: 50 s is over well before the empty start's transient; "mser5" is steady()'s rule.
@pytest.mark.parametrize("warmup", [50.0, "mser5"])
def test_replicate_stops_when_the_interval_is_narrow_enough_and_covers_theory(
    warmup: float | str,
) -> None:
    target = 0.08
    result = replicate(
        MM,
        runs=5,
        until={"wait_mean": target},
        workers=4,
        capacity=1500,
        warmup=warmup,
        executor="serial",
        progress=False,
    )
    wait = result.intervals.loc["wait_mean"]
    assert result.converged and bool(wait["met"])
    assert wait["relative"] <= target and wait["target"] == target
    assert wait["n"] == len(result.runs) > 5  # five were not enough: it added runs
    assert list(result.runs["seed"]) == list(range(7, 7 + len(result.runs)))
    assert wait["low"] <= theory.mmc(3.2, 1.0, 4).wq <= wait["high"]
    assert len(result.runs) < 200  # it stopped before max_runs
    assert "converged" in repr(result) and "wait_mean" in result._repr_html_()


def test_replicate_reports_when_max_runs_cut_it_short() -> None:
    result = replicate(
        MM, runs=3, until={"wait_p95": 1e-4}, max_runs=6, workers=4, capacity=1500, progress=False
    )
    assert not result.converged
    assert len(result.runs) == 6
    assert not result.intervals.loc["wait_p95", "met"]
    assert "NOT converged" in repr(result)


def test_runs_warnings_come_back_once_with_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobsim import executors

    def noisy(task: executors.Task) -> tuple[dict, list]:
        row, _ = run_one(task)
        return row, [(RuntimeWarning, "the channel was full")]

    monkeypatch.setattr(executors, "run_one", noisy)
    with pytest.warns(RuntimeWarning, match=r"^the channel was full \(3 of 3 runs\)$") as caught:
        sweep(MM, workers=[4, 5, 6], repeats=1, capacity=1500, progress=False, executor="serial")
    assert len(caught) == 1


def test_run_one_is_what_a_worker_process_runs() -> None:
    row, caught = run_one((MM, {"workers": 4, "seed": 3, "capacity": 1500}, {"run": 0}, None))
    assert row["run"] == 0 and row["workers"] == 4 and row["jobs"] == 1500
    assert caught == []


def test_auto_executor_uses_processes_for_large_virtual_studies() -> None:
    assert _resolve("auto", AUTO_PROCESSES - 1, "virtual") == "serial"
    assert _resolve("auto", AUTO_PROCESSES, "real") == "serial"
    expected = "processes" if jobsim.executors.cores() > 1 else "serial"
    assert _resolve("auto", AUTO_PROCESSES, "virtual") == expected
    assert _resolve("serial", 1000, "virtual") == "serial"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sweep(MM, executor="threads"), ValueError, "executor must be one of"),
        (lambda: sweep(MM, executor=42), TypeError, "executor must be 'auto'"),
        (lambda: replicate(MM, runs=1), ValueError, "runs must be an integer >= 2"),
        (lambda: replicate(MM, runs=5, max_runs=4), ValueError, r"max_runs \(4\) must be >="),
        (lambda: replicate(MM, until={"wait_mean": 0}), ValueError, "relative half-width > 0"),
        (lambda: replicate(MM, warmup="long"), ValueError, "warmup must be None, 'mser5'"),
        (lambda: replicate(MM, runs=2, confidence=2), ValueError, "confidence must be"),
        (lambda: replicate("mm1"), TypeError, "needs a Workload"),  # type: ignore[arg-type]
        (
            lambda: replicate(MM, runs=2, metrics=["nope"], progress=False, capacity=1500),
            ValueError,
            r"unknown metric\(s\) \['nope'\]",
        ),
    ],
)
def test_bad_arguments_say_what_is_allowed(call: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]


def test_exported() -> None:
    from jobsim.simulate import sweep as old_home

    assert jobsim.sweep is old_home is sweep
    assert jobsim.replicate is replicate


def test_later_studies_reuse_the_process_pool_and_a_broken_one_is_replaced() -> None:
    """The workers' start-up (imports of numpy and pandas) is paid once per process, not once
    per study; a pool whose worker died is not handed out again."""
    import os
    import signal
    import time

    from jobsim import executors

    small = Workload(50, Poisson(3.2), Exponential(1.0), seed=3)
    replicate(small, runs=2, max_runs=2, workers=4, executor="processes", progress=False)
    pool = executors._process_pool()
    replicate(small, runs=2, max_runs=2, workers=4, executor="processes", progress=False)
    assert executors._process_pool() is pool
    os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):  # the pool noticed
        for _ in range(1000):
            pool.submit(time.sleep, 0.01).result()
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):
        replicate(small, runs=2, max_runs=2, workers=4, executor="processes", progress=False)
    assert executors._process_pool() is not pool
    again = replicate(small, runs=2, max_runs=2, workers=4, executor="processes", progress=False)
    assert len(again.runs) == 2
