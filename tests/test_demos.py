"""The teaching demos: each bug reproduces deterministically, each fixed twin is clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobsim import demos

WRONG_ORDERS = ["close-channel-first", "cancel-workers-first", "no-wait"]


# -- duplicate race ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_racy_store_runs_jobs_more_than_once_and_repeats_per_seed(seed: int) -> None:
    first = demos.duplicate_race("racy", workers=10, jobs=20, deliveries=2, seed=seed)
    again = demos.duplicate_race("racy", workers=10, jobs=20, deliveries=2, seed=seed)
    assert first.duplicates > 0
    assert first.jobs_run_more_than_once > 0
    assert first.run_counts == again.run_counts
    assert first.skipped == again.skipped
    assert first.events.equals(again.events)
    # Every delivery was either run or skipped by the claim.
    assert first.total_runs + first.skipped == 20 * 2


def test_atomic_claim_runs_every_job_exactly_once() -> None:
    for seed in (0, 1, 2):
        report = demos.duplicate_race("memory", workers=10, jobs=20, deliveries=3, seed=seed)
        assert set(report.run_counts.values()) == {1}
        assert report.duplicates == 0
        assert report.skipped == 20 * 2  # every extra delivery was turned away


def test_duplicate_race_frames_match_the_counts() -> None:
    report = demos.duplicate_race("racy", jobs=12, workers=6, seed=3)
    assert len(report.runs) == report.total_runs
    assert (report.runs["status"] == "duplicate").sum() == report.duplicates
    assert (report.runs["finished"] >= report.runs["started"]).all()
    assert report.jobs.set_index("id")["runs"].to_dict() == report.run_counts
    flagged = report.events[report.events["problem"].astype(bool)]
    assert len(flagged) == report.duplicates
    assert flagged["event"].str.contains("AGAIN").all()


@pytest.mark.parametrize("seed", range(6))
def test_one_rule_names_the_duplicate_the_run_that_started_later(seed: int) -> None:
    # The events, the runs frame (the timeline) and the counts agree on which run of a job is
    # the duplicate: every run that started after the job's first start, whichever finished
    # first.
    report = demos.duplicate_race("racy", workers=10, jobs=20, deliveries=3, seed=seed)
    runs = report.runs
    for _, group in runs.groupby("job_id"):
        in_start_order = group.sort_values(["started", "start_order"])
        assert list(in_start_order["start_order"]) == list(range(1, len(group) + 1))
        assert list(in_start_order["status"]) == ["completed"] + ["duplicate"] * (len(group) - 1)
        assert group["started"][group["status"] == "completed"].iloc[0] == group["started"].min()
    events = report.events
    again = events[events["problem"].astype(bool)]
    marked = runs[runs["status"] == "duplicate"]
    assert sorted(zip(again["job_id"], again["actor"], again["time"], strict=True)) == sorted(
        zip(marked["job_id"], marked["worker_id"], marked["started"], strict=True)
    )


def test_a_duplicate_that_finishes_first_is_still_the_duplicate() -> None:
    # With job durations drawn per run, some second starts finish before the first one: the
    # case where "first to finish" and "first to start" disagree. Find one and check it.
    for seed in range(20):
        runs = demos.duplicate_race("racy", workers=10, jobs=20, seed=seed).runs
        for _, group in runs.groupby("job_id"):
            if len(group) < 2:
                continue
            first_done = group.sort_values("finished").iloc[0]
            if first_done["start_order"] > 1:
                assert first_done["status"] == "duplicate"
                return
    pytest.fail("no seed in 0-19 has a duplicate run that finished before the first run")


def test_duplicate_race_rejects_bad_arguments_by_name() -> None:
    with pytest.raises(ValueError, match=r"store must be one of racy, memory, got 'redis'"):
        demos.duplicate_race("redis")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deliveries must be an integer >= 1"):
        demos.duplicate_race(deliveries=0)


# -- shutdown orders --------------------------------------------------------------------------


def test_correct_order_loses_nothing() -> None:
    report = demos.shutdown("correct")
    assert report.ok
    assert report.error is None
    assert report.lost == report.stuck == 0
    assert report.accepted > 0
    assert report.counts["completed"] == report.accepted
    events = list(zip(report.events["actor"], report.events["event"], strict=True))
    # The original Go service's order: stop intake -> close the channel -> workers stop -> join.
    intake = events.index(("main", "stop intake"))
    producer_stop = events.index(("producer", "stops"))
    close = events.index(("main", "pool.shutdown()"))
    joined = events.index(("main", "all joined"))
    worker_stops = [i for i, (actor, _) in enumerate(events) if actor.startswith("worker-")]
    assert len(worker_stops) == 3
    assert intake < producer_stop < close < min(worker_stops) <= max(worker_stops) < joined
    told = list(report.trace["event"])
    assert told.index("1. stops intake: tells the producer to stop") < next(
        i for i, e in enumerate(told) if e.startswith("2. pool.shutdown(): closes the channel")
    )
    times = report.events["time"].to_numpy()
    assert (times[1:] >= times[:-1]).all()
    assert not report.events["problem"].any()


@pytest.mark.parametrize("order", WRONG_ORDERS)
def test_wrong_orders_leave_jobs_stuck_or_lost(order: str) -> None:
    report = demos.shutdown(order)  # type: ignore[arg-type]
    assert not report.ok
    assert report.stuck > 0
    assert report.lost == report.stuck + report.counts["pending"] > 0
    assert report.counts["completed"] + report.lost == report.accepted
    killed = report.events[report.events["event"].str.startswith("killed mid-")]
    assert len(killed) == report.stuck
    assert killed["problem"].all()


def test_closing_the_channel_first_crashes_the_producer() -> None:
    report = demos.shutdown("close-channel-first")
    assert report.error is not None and "ClosedResourceError" in report.error
    panic = report.events[report.events["event"].str.contains("ClosedResourceError")]
    assert list(panic["actor"]) == ["producer"]
    assert panic["problem"].all()
    told = report.trace[report.trace["event"].str.startswith("PANIC: send on closed channel")]
    assert len(told) == 1


@pytest.mark.parametrize("order", ["correct", *WRONG_ORDERS])
def test_shutdown_demo_repeats_exactly(order: str) -> None:
    first = demos.shutdown(order, seed=4)  # type: ignore[arg-type]
    again = demos.shutdown(order, seed=4)  # type: ignore[arg-type]
    assert first.counts == again.counts
    assert first.trace.equals(again.trace)
    assert first.events.equals(again.events)
    for log in (first.events, first.trace):
        assert log["time"].is_monotonic_increasing


def test_shutdown_rejects_unknown_orders() -> None:
    with pytest.raises(ValueError, match="order must be one of correct, close-channel-first"):
        demos.shutdown("sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stop_at must be a number of seconds >= 0"):
        demos.shutdown(stop_at=-1)
    with pytest.raises(ValueError, match="interval must be a positive number of seconds"):
        demos.shutdown(interval=0)


# -- closure capture --------------------------------------------------------------------------


def test_late_binding_closures_give_every_worker_the_last_id() -> None:
    report = demos.closure_capture(fixed=False, workers=5)
    assert report.ids == [5, 5, 5, 5, 5]
    assert report.distinct == 1
    assert report.wrong == 4


@pytest.mark.parametrize("how", ["argument", "default", "partial"])
def test_each_fix_binds_the_id_when_the_task_is_created(how: str) -> None:
    report = demos.closure_capture(fixed=True, workers=6, how=how)  # type: ignore[arg-type]
    assert report.ids == [1, 2, 3, 4, 5, 6]
    assert report.wrong == 0


# -- inside a running event loop (Jupyter) ----------------------------------------------------


@pytest.mark.anyio
async def test_demos_run_from_inside_an_event_loop() -> None:
    report = demos.duplicate_race("memory", jobs=5, workers=3)
    assert report.duplicates == 0
    assert demos.shutdown("correct").lost == 0


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_narrates_the_duplicate_race(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["duplicate-race", "--jobs", "6", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    assert "[t=  0.00 s]" in out
    assert "AGAIN: a duplicate run" in out
    assert "run with --fixed" in out
    assert demos.main(["duplicate-race", "--fixed", "--jobs", "6", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    assert "0 duplicate run(s)" in out and "AGAIN" not in out


def test_cli_narrates_shutdown_orders(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["shutdown"]) == 0
    out = capsys.readouterr().out
    assert "PANIC: send on closed channel" in out
    assert "The service crashed" in out
    assert demos.main(["shutdown", "--fixed"]) == 0
    assert "Lost: 0." in capsys.readouterr().out
    assert demos.main(["shutdown", "--order", "no-wait"]) == 0
    assert "returns without waiting for the workers" in capsys.readouterr().out


def test_cli_narrates_closure_capture(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["closure-capture"]) == 0
    assert "4 wrong" in capsys.readouterr().out
    assert demos.main(["closure-capture", "--fixed"]) == 0
    assert "0 wrong" in capsys.readouterr().out


def test_cli_rejects_contradictions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        demos.main(["closure-capture", "--order", "no-wait"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--order applies to the shutdown demo only, not to closure-capture" in err
    with pytest.raises(SystemExit) as exc:
        demos.main(["shutdown", "--deliveries", "3"])
    assert exc.value.code == 2
    assert "--deliveries applies to the duplicate-race demo only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demos.main(["shutdown", "--colour", "red"])
    assert "unrecognized arguments: --colour red" in capsys.readouterr().err
    assert demos.main(["shutdown", "--fixed", "--order", "no-wait"]) == 2
    assert "contradicts --order no-wait" in capsys.readouterr().err
    assert demos.main(["duplicate-race", "--jobs", "0"]) == 2
    assert "jobs must be an integer >= 1" in capsys.readouterr().err
    assert demos.main(["closure-capture", "--workers", "0"]) == 2
    assert "workers must be an integer >= 1" in capsys.readouterr().err


def test_cli_closure_capture_uses_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["closure-capture", "--workers", "3"]) == 0
    out = capsys.readouterr().out
    assert "starts 3 worker tasks" in out and "range(1, 4)" in out
    assert "task worker-3 reports worker id 3" in out
    assert "task worker-4" not in out
    assert "1 distinct id(s) for 3 workers; 2 wrong." in out
    assert demos.main(["closure-capture", "--fixed", "--workers", "7"]) == 0
    assert "7 distinct id(s) for 7 workers; 0 wrong." in capsys.readouterr().out


def test_cli_shutdown_uses_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["shutdown", "--fixed", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 worker(s) run jobs" in out
    assert "worker-2" in out and "worker-3" not in out
    assert "Lost: 0." in out


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # Like `python -m jobsim demo duplicate-race ... | head -2`: far more output than a pipe
    # holds, so the demo is still writing when the reader closes its end.
    demo = subprocess.Popen(
        [sys.executable, "-m", "jobsim", "demo", "duplicate-race", "--jobs", "2000",
         "--workers", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert demo.stdout is not None and demo.stderr is not None
    first = demo.stdout.readline()
    demo.stdout.close()
    err = demo.stderr.read().decode()
    assert demo.wait(timeout=120) == 1
    assert first.startswith(b"Duplicate race: 2000 jobs")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert err == ""


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobsim", "demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_jobsim_demo_dispatches_here_and_uses_workers() -> None:
    done = _demo("closure-capture", "--fixed")
    assert done.returncode == 0, done.stderr
    assert "task worker-3 reports worker id 3" in done.stdout
    done = _demo("closure-capture", "--workers", "8")
    assert done.returncode == 0, done.stderr
    assert "task worker-8 reports worker id 8" in done.stdout
    assert "8 distinct" not in done.stdout and "7 wrong." in done.stdout
    done = _demo("closure-capture", "--deliveries", "3")
    assert done.returncode == 2 and done.stdout == ""
    assert "--deliveries applies to the duplicate-race demo only" in done.stderr


@pytest.mark.parametrize("demo", demos.DEMOS, ids=[d.name for d in demos.DEMOS])
def test_every_registered_demo_narrates_both_twins_and_never_ignores_workers(
    demo: demos.Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    # A demo added to the registry gets the common flags and is held to the same contract.
    for fixed in ([], ["--fixed"]):
        assert demos.main([demo.name, *fixed]) == 0
        assert capsys.readouterr().out.strip()
    if "--workers" in demo.options:  # used, and checked
        assert demos.main([demo.name, "--workers", "0"]) == 2
        assert "workers must be an integer >= 1" in capsys.readouterr().err
    else:  # refused by name, never silently ignored
        with pytest.raises(SystemExit):
            demos.main([demo.name, "--workers", "3"])
        assert "--workers applies to the" in capsys.readouterr().err
