"""The benchmark harness: each suite in quick mode with tiny sizes, the CLI once, the stats.

No wall-clock thresholds: timings are only checked for being measured (positive, finite);
exact figures are asserted only in virtual time.
"""

from __future__ import annotations

import importlib
import inspect
import math
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from benchmarks import __main__ as cli
from benchmarks import _harness, cpu, overhead, scaling
from benchmarks.suites import DEFAULT_SUITES, SUITES

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def _check_base_columns(frame: pd.DataFrame) -> None:
    missing = [c for c in _harness.BASE_COLUMNS if c not in frame.columns]
    assert not missing, f"missing tidy columns: {missing}"
    assert (frame["makespan_s"] > 0).all()
    assert np.isfinite(frame["throughput_jobs_s"]).all()


def test_registry_lists_the_core_suites_and_scaling_is_the_default() -> None:
    for name in ("scaling", "cpu", "overhead", "simulation", "stores"):
        assert SUITES[name] == f"benchmarks.{name}"
    assert DEFAULT_SUITES == ("scaling",)


def test_scaling_quick_rows_and_the_go_services_exact_table_in_virtual_time(tmp_path: Path) -> None:
    frame = scaling.run(
        quick=True,
        repeat=2,
        workers=[2, 10],
        jobs=20,
        duration=0.002,
        headroom=False,
        progress=False,
    )
    _check_base_columns(frame)
    assert set(frame["case"]) == {"sweep", "go_table"}
    assert sorted(frame["workers"].unique()) == [1, 2, 10]  # 1 added as the baseline
    assert len(frame) == 2 * 3 * 2  # (sweep + go_table) x 3 worker counts x 2 repeats
    table = frame[frame["case"] == "go_table"].set_index(["workers", "repeat"])
    # Virtual time is exact: 20 jobs x 1 s take 20 s on 1 worker, 2 s on 10.
    assert table.loc[(1, 0), "makespan_s"] == 20.0
    assert table.loc[(10, 0), "makespan_s"] == 2.0
    assert table.loc[(10, 1), "speedup"] == 10.0
    assert table.loc[(2, 0), "efficiency"] == 1.0
    sweep = frame[frame["case"] == "sweep"]
    base = sweep.loc[sweep["workers"] == 1, "makespan_s"].median()
    assert np.allclose(sweep["speedup"] * sweep["makespan_s"], base)  # vs the 1-worker median
    assert np.allclose(sweep["efficiency"], sweep["speedup"] / sweep["workers"])
    assert (sweep["latency_p50_s"] <= sweep["latency_p99_s"]).all()

    written = scaling.plot(frame, tmp_path)
    names = {p.name for p in written}
    for kind in ("throughput", "speedup", "efficiency", "latency"):
        assert f"scaling_{kind}.png" in names
        assert f"scaling_virtual_{kind}.png" in names
    assert all(_is_png(p) for p in written)


def test_scaling_virtual_table_on_trio_is_exact_too() -> None:
    frame = scaling.run(
        quick=True, repeat=1, workers=[10], jobs=20, clock="virtual", backend="trio", progress=False
    )
    assert set(frame["clock"]) == {"virtual"} and set(frame["backend"]) == {"trio"}
    by_workers = frame.set_index("workers")
    assert by_workers.loc[1, "makespan_s"] == 20.0
    assert by_workers.loc[10, "makespan_s"] == 2.0
    assert by_workers.loc[10, "speedup"] == 10.0


def test_scaling_headroom_efficiency_is_against_the_ideal_makespan() -> None:
    frame = scaling.run(
        quick=True, repeat=1, workers=[1], jobs=2, duration=0.001, clock="real", progress=False
    )
    head = frame[frame["case"] == "headroom"].iloc[0]
    ideal = math.ceil(head["jobs"] / head["workers"]) * head["duration_s"]
    assert head["efficiency"] == pytest.approx(ideal / head["makespan_s"])
    assert set(frame["clock"]) == {"real"}


def test_cpu_quick_has_every_kind_on_1_and_2_workers(tmp_path: Path) -> None:
    frame = cpu.run(quick=True, repeat=1, jobs=2, duration=0.002, progress=False)
    _check_base_columns(frame)
    assert set(frame["kind"]) == {"inline", "cpu-thread", "cpu-process"}
    assert sorted(frame["workers"].unique()) == [1, 2]
    one = frame[frame["workers"] == 1]
    assert np.allclose(one["speedup"], 1.0)
    paths = cpu.plot(frame, tmp_path)
    assert [p.name for p in paths] == ["cpu_speedup.png"] and _is_png(paths[0])


def test_cpu_refuses_virtual_time() -> None:
    with pytest.raises(ValueError, match="virtual"):
        cpu.run(quick=True, clock="virtual", progress=False)


def test_overhead_quick_compares_pool_and_bare_on_both_backends(tmp_path: Path) -> None:
    frame = overhead.run(quick=True, repeat=1, jobs=300, workers=[3], progress=False)
    assert {"suite", "backend", "workers", "jobs", "throughput_jobs_s", "ratio"} <= set(
        frame.columns
    )
    assert set(zip(frame["backend"], frame["variant"], strict=True)) == {
        ("asyncio", "pool"),
        ("asyncio", "priority"),
        ("asyncio", "batch"),
        ("asyncio", "bare"),
        ("trio", "pool"),
        ("trio", "priority"),
        ("trio", "batch"),
        ("trio", "bare"),
        ("none", "job"),
    }
    assert (frame["workers"] == 3).all() and (frame["jobs"] == 300).all()
    pool = frame[frame["variant"] == "pool"].set_index("backend")
    bare = frame[frame["variant"] == "bare"].set_index("backend")
    prio = frame[frame["variant"] == "priority"].set_index("backend")
    for backend in ("asyncio", "trio"):
        expected = pool.loc[backend, "throughput_jobs_s"] / bare.loc[backend, "throughput_jobs_s"]
        assert pool.loc[backend, "ratio"] == pytest.approx(expected)
        assert pool.loc[backend, "cpu_s"] > 0 and bare.loc[backend, "cpu_s"] > 0
        assert pool.loc[backend, "cpu_ratio"] == pytest.approx(
            bare.loc[backend, "cpu_s"] / pool.loc[backend, "cpu_s"]
        )
        assert prio.loc[backend, "per_job_vs_fifo"] == pytest.approx(
            prio.loc[backend, "makespan_s"] / pool.loc[backend, "makespan_s"]
        )
    assert any("priority dispatch takes" in line for line in overhead.notes(frame))
    batch = frame[frame["variant"] == "batch"].set_index("backend")
    for backend in ("asyncio", "trio"):
        assert batch.loc[backend, "per_job_vs_fifo"] == pytest.approx(
            batch.loc[backend, "makespan_s"] / pool.loc[backend, "makespan_s"]
        )
    assert any("submit_many takes" in line for line in overhead.notes(frame))
    built = frame[frame["variant"] == "job"].iloc[0]
    assert built["baseline"] == "Job() construction" and built["store"] == "none"
    assert built["ratio"] == pytest.approx(
        built["throughput_jobs_s"] / bare.loc["asyncio", "throughput_jobs_s"]
    )
    assert any(line.startswith("Job(): ") for line in overhead.notes(frame))
    assert pool.loc["trio", "ratio_vs_asyncio_bare"] == pytest.approx(
        pool.loc["trio", "throughput_jobs_s"] / bare.loc["asyncio", "throughput_jobs_s"]
    )
    paths = overhead.plot(frame, tmp_path)
    assert all(_is_png(p) for p in paths)


def test_generic_plots_cope_with_a_suite_without_speedup_or_latency(tmp_path: Path) -> None:
    # Another helper's suite (e.g. stores) may have only throughput: plot what is there.
    frame = pd.DataFrame(
        {
            "suite": "other",
            "store": ["a", "a", "b", "b"] * 2,
            "workers": [1, 4] * 4,
            "repeat": [0, 0, 0, 0, 1, 1, 1, 1],
            "throughput_jobs_s": [10.0, 30.0, 1e4, 2e4, 11.0, 29.0, 1.1e4, 2.1e4],
        }
    )
    paths = _harness.plot_scaling(frame, tmp_path, prefix="other")
    assert [p.name for p in paths] == ["other_throughput.png"]
    assert _is_png(paths[0])


def test_bootstrap_ci_brackets_the_median_and_collapses_on_equal_values() -> None:
    lo, hi = _harness.bootstrap_ci([1.0, 2.0, 3.0, 4.0, 100.0])
    assert lo <= 3.0 <= hi
    assert _harness.bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0)
    assert all(math.isnan(v) for v in _harness.bootstrap_ci([1.0]))


def test_summarize_gives_one_row_per_configuration() -> None:
    frame = pd.DataFrame(
        {
            "suite": "x",
            "workers": [1, 1, 1, 2, 2, 2],
            "repeat": [0, 1, 2] * 2,
            "jobs": 10,
            "makespan_s": [3.0, 1.0, 2.0, 1.0, 1.0, 1.0],
        }
    )
    summary = _harness.summarize(frame).set_index("workers")
    assert summary.loc[1, "makespan_s_median"] == 2.0
    assert summary.loc[1, "n"] == 3
    assert summary.loc[2, "makespan_s_ci_lo"] == summary.loc[2, "makespan_s_ci_hi"] == 1.0
    text = _harness.format_summary(summary.reset_index())
    assert "makespan_s" in text and "[" in text


def test_other_suites_measured_columns_are_summarised_not_grouped_on() -> None:
    frame = pd.DataFrame(
        {
            "suite": "sim",
            "arrival_rate": 8.0,
            "mean_service_s": 1.0,
            "repeat": [0, 1, 2],
            "run_wall_s": [1.0, 2.0, 3.0],
            "cpu_ratio": [0.5, 0.6, 0.7],
        }
    )
    summary = _harness.summarize(frame)
    assert len(summary) == 1 and summary.loc[0, "n"] == 3
    assert summary.loc[0, "run_wall_s_median"] == 2.0
    assert summary.loc[0, "cpu_ratio_median"] == 0.6
    assert summary.loc[0, "arrival_rate"] == 8.0 and summary.loc[0, "mean_service_s"] == 1.0


def test_append_csv_keeps_earlier_rows_and_unions_columns(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.csv"
    _harness.append_csv(pd.DataFrame({"suite": ["a"], "x": [1]}), path)
    _harness.append_csv(pd.DataFrame({"suite": ["b"], "y": [2]}), path)
    back = pd.read_csv(path)
    assert list(back["suite"]) == ["a", "b"]
    assert {"x", "y"} <= set(back.columns)


def test_cli_bad_value_is_an_argparse_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, flag in (
        (["--workers", "0"], "--workers"),
        (["--workers", "a,b"], "--workers"),
        (["--repeat", "0"], "--repeat"),
        (["--duration", "-1"], "--duration"),
        (["--backend", "curio"], "--backend"),
        (["nosuch"], "nosuch"),
    ):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        assert flag in capsys.readouterr().err


def test_cli_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for flag in (
        "--workers",
        "--jobs",
        "--duration",
        "--clock",
        "--backend",
        "--repeat",
        "--quick",
        "--out",
    ):
        assert flag in out


def test_cli_a_suite_that_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "SUITES", {"ghost": "benchmarks._no_such_suite"})
    assert cli.main(["all", "--out", str(tmp_path)]) == 1
    assert "ghost: failed: ModuleNotFoundError" in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


def test_one_options_object_for_every_suite() -> None:
    options = _harness.Options(quick=True, workers=[4, 2], clock="virtual")
    assert options.workers == (4, 2)
    assert options.worker_counts((1, 10), baseline=True) == [1, 2, 4]
    assert _harness.Options.of(options, repeat=2).repeat == 2
    with pytest.raises(TypeError, match="unknown benchmark option"):
        _harness.Options.of(options, wrokers=[1])
    with pytest.raises(ValueError, match="repeat must be"):
        _harness.Options(repeat=0)
    with pytest.raises(ValueError, match="backend must be"):
        _harness.Options(backend="curio")
    # A suite refuses the clock it cannot run on, naming itself and why.
    with pytest.raises(ValueError, match="the overhead suite measures wall time"):
        overhead.run(options)
    # Every registered suite's run() takes the one options object, fields as keywords too.
    for module_name in SUITES.values():
        run = importlib.import_module(module_name).run
        params = list(inspect.signature(run).parameters.values())
        assert params[0].name == "options" and params[0].kind is params[0].POSITIONAL_ONLY
        assert params[-1].kind is params[-1].VAR_KEYWORD


def test_cli_a_failing_suite_exits_non_zero_and_keeps_the_others_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(
        cli, "SUITES", {"scaling": "benchmarks.scaling", "broken": "benchmarks._harness"}
    )  # _harness has no run(): calling it fails like a crashing suite would
    argv = ["scaling", "broken", "--clock", "virtual", "--workers", "2", "--jobs", "2"]
    argv += ["--repeat", "1", "--no-plots", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "broken: failed" in capsys.readouterr().err
    assert set(pd.read_csv(tmp_path / "results.csv")["suite"]) == {"scaling"}


def test_cli_subprocess_quick_run_writes_csv_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "res"
    argv = [sys.executable, "-m", "benchmarks", "scaling", "--quick", "--workers", "1,2"]
    argv += ["--jobs", "4", "--duration", "0.002", "--repeat", "1", "--no-progress"]
    argv += ["--clock", "virtual", "--out", str(out)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "== scaling" in proc.stdout and "speedup" in proc.stdout
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 2  # 2 worker counts x 1 repeat, virtual clock only
    for column in (*_harness.BASE_COLUMNS, *_harness.ENV_COLUMNS):
        assert column in frame.columns
    assert (frame["jobsim_version"].astype(str) != "").all()
    assert _is_png(out / "scaling_virtual_speedup.png")


def test_overhead_adds_uvloop_rows_next_to_asyncio() -> None:
    frame = overhead.run(
        quick=True,
        repeat=1,
        jobs=300,
        workers=[3],
        backend="asyncio",
        loop="uvloop",
        progress=False,
    )
    assert set(zip(frame["loop"], frame["variant"], strict=True)) == {
        ("asyncio", "pool"),
        ("asyncio", "priority"),
        ("asyncio", "batch"),
        ("asyncio", "bare"),
        ("uvloop", "pool"),
        ("uvloop", "priority"),
        ("uvloop", "batch"),
        ("uvloop", "bare"),
        ("none", "job"),
    }
    pool = frame[frame["variant"] == "pool"].set_index("loop")
    bare = frame[frame["variant"] == "bare"].set_index("loop")
    assert pool.loc["uvloop", "ratio"] == pytest.approx(
        pool.loc["uvloop", "throughput_jobs_s"] / bare.loc["uvloop", "throughput_jobs_s"]
    )
    assert any(line.startswith("uvloop: the pool runs") for line in overhead.notes(frame))


def test_simulation_suite_rows_per_engine_and_the_million_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import simulation

    monkeypatch.setattr(simulation, "QUICK_MILLION", 2_000)  # the fresh-process run, small
    frame = simulation.run(quick=True, repeat=1, jobs=300, progress=False)
    mmc_rows = frame[frame["case"] == "mmc"]
    assert set(zip(mmc_rows["engine"], mmc_rows["backend"], strict=True)) == {
        ("pool", "asyncio"),
        ("pool", "trio"),
        ("recursion", "-"),
    }
    # Same draws, same records: every engine's mean wait is SimPy's to rounding.
    assert (mmc_rows["max_wait_diff_s"] < 1e-9).all()
    million = frame[frame["case"] == "million"].iloc[0]
    assert million["jobs"] == 2_000 and million["memory_ratio"] >= 0
    assert million["process_memory_ratio"] > million["memory_ratio"]
    notes = "\n".join(simulation.notes(frame))
    assert "recursion, 2,000 jobs in a fresh process" in notes and "target <= 0.25" in notes
