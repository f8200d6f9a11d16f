"""Mix: several job classes in one simulated run; records per class; expiry in the lab."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jobsim import Batch, Constant, Exponential, Mix, Poisson, Workload, simulate


def two_classes(seed: int = 1, ttl: float | None = None) -> Mix:
    return Mix(
        urgent=Workload(60, Poisson(1.0), Exponential(1.0), priority=10, ttl=ttl),
        bulk=Workload(120, Poisson(2.0), Exponential(1.0)),
        seed=seed,
    )


def test_the_plan_merges_the_classes_by_arrival_time() -> None:
    plan = two_classes().plan()
    assert len(plan.arrivals) == 180 and plan.arrivals == sorted(plan.arrivals)
    names = [plan.classes[c].name for c in plan.job_class]
    assert names.count("urgent") == 60 and names.count("bulk") == 120
    assert [(c.name, c.type, c.priority) for c in plan.classes] == [
        ("urgent", "urgent", 10),
        ("bulk", "bulk", 0),
    ]
    assert plan == two_classes().plan()  # seeded
    assert plan != two_classes(seed=2).plan()


def test_adding_a_class_keeps_the_draws_of_the_others() -> None:
    alone = Mix(urgent=Workload(50, Poisson(1.0), Exponential(1.0)), seed=3).plan()
    mixed = Mix(
        urgent=Workload(50, Poisson(1.0), Exponential(1.0)),
        bulk=Workload(50, Poisson(9.0), Exponential(2.0)),
        seed=3,
    ).plan()
    urgent = [i for i, c in enumerate(mixed.job_class) if c == 0]
    assert [mixed.arrivals[i] for i in urgent] == alone.arrivals
    assert [mixed.service[i] for i in urgent] == alone.service


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_simulate_records_each_job_s_class_and_priority(backend: str) -> None:
    result = simulate(two_classes(), workers=3, capacity=1000, backend=backend)
    jobs = result.jobs
    assert list(jobs.groupby("job_class").size().sort_index().items()) == [
        ("bulk", 120),
        ("urgent", 60),
    ]
    assert set(zip(jobs["job_class"], jobs["priority"], strict=True)) == {
        ("urgent", 10),
        ("bulk", 0),
    }
    by_class = result.by_class()
    assert list(by_class.index) == ["urgent", "bulk"]  # highest priority first
    assert by_class.loc["urgent", "jobs"] == 60 and by_class.loc["bulk", "completed"] == 120
    urgent = jobs[jobs["job_class"] == "urgent"]
    assert by_class.loc["urgent", "wait_mean"] == pytest.approx(urgent["wait"].mean())


def test_a_job_not_started_within_its_ttl_expires_and_never_runs() -> None:
    # One worker, ten 1-second jobs at t = 0, ttl 3.5 s: jobs 0-3 start at 0, 1, 2, 3;
    # the other six would start at 4 s or later, past their ttl.
    result = simulate(Workload(10, Batch(), Constant(1.0), ttl=3.5), workers=1)
    jobs = result.jobs.sort_values("index")
    assert jobs["expired"].tolist() == [False] * 4 + [True] * 6
    assert jobs["status"].tolist() == ["completed"] * 4 + ["expired"] * 6
    assert jobs[jobs["expired"]]["wait"].isna().all()  # never started
    assert result.summary["expired"] == 6 and result.summary["completed"] == 4
    assert result.summary["makespan"] == 4.0
    assert result.summary["duplicates"] == 0 and result.summary["lost"] == 0


def test_expiry_is_identical_on_asyncio_and_trio() -> None:
    mix = two_classes(ttl=1.5)
    runs = [simulate(mix, workers=2, capacity=1000, backend=b).jobs for b in ("asyncio", "trio")]
    assert runs[0]["expired"].sum() > 0
    assert runs[0].equals(runs[1])


def test_bad_mixes_and_class_options_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least one class"):
        Mix(seed=1)
    with pytest.raises(TypeError, match="Mix class 'urgent' must be a Workload, got int"):
        Mix(urgent=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share one kind"):
        Mix(a=Workload(1), b=Workload(1, kind="cpu-thread"))
    with pytest.raises(TypeError, match="priority must be an integer"):
        Workload(1, priority=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl must be a positive, finite number"):
        Workload(1, ttl=math.nan)
    with pytest.raises(TypeError, match="needs a Workload or a Mix, got list"):
        simulate([Workload(1)])  # type: ignore[arg-type]


def test_a_single_workload_is_one_class_named_after_its_type() -> None:
    result = simulate(Workload(5, Batch(), Constant(1.0), job_type="email"), workers=5)
    assert set(result.jobs["job_class"]) == {"email"}
    assert list(result.by_class().index) == ["email"]
    assert np.isclose(result.by_class().loc["email", "wait_mean"], 0.0)


def test_a_fifo_mix_gives_the_same_records_on_the_recursion_and_the_pool() -> None:
    mix = two_classes()
    pool = simulate(mix, workers=3, capacity=1000, engine="pool")
    recursion = simulate(mix, workers=3, capacity=1000, engine="recursion")
    assert (pool.settings["engine"], recursion.settings["engine"]) == ("pool", "recursion")
    assert set(recursion.jobs["job_class"]) == {"urgent", "bulk"}
    pd.testing.assert_frame_equal(pool.jobs, recursion.jobs, check_exact=True)


def test_auto_runs_the_pool_when_a_class_has_a_ttl() -> None:
    assert simulate(two_classes(ttl=1.5), workers=2).settings["engine"] == "pool"
    with pytest.raises(ValueError, match="ttl= is set"):
        simulate(two_classes(ttl=1.5), workers=2, engine="recursion")
