"""The recursion engine against the pool: identical records on random workloads.

The recursion (:mod:`jobsim.recursion`) and the pool in virtual time are two independent
computations of the same run; any difference between their ``RunResult.jobs`` is a bug in one
of them. Hypothesis draws the workloads; the pool runs on asyncio and on trio.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from jobsim import (
    Batch,
    Bursts,
    Constant,
    Empirical,
    Exponential,
    InMemoryJobStore,
    LogNormal,
    Periodic,
    Poisson,
    Uniform,
    Workload,
    simulate,
)
from jobsim.recursion import schedule, unsupported
from jobsim.simulate import choose_engine

arrivals = st.one_of(
    st.just(Batch()),
    st.builds(Poisson, st.floats(0.5, 50.0)),
    st.builds(Periodic, st.sampled_from([0.0, 0.1, 0.25, 0.3, 1.0, 1 / 3])),
    st.builds(Bursts, st.integers(1, 12), st.sampled_from([0.1, 0.5, 1.0, 2.0])),
)
# Constants and few-valued empirical draws make many jobs end at the same instant (ties),
# decimal fractions make the clock's float arithmetic matter.
services = st.one_of(
    st.builds(Constant, st.sampled_from([0.0, 0.1, 0.3, 1.0, 2.5])),
    st.builds(Uniform, st.just(0.0), st.floats(0.01, 3.0)),
    st.builds(Exponential, st.floats(0.05, 3.0)),
    st.builds(LogNormal, st.floats(0.05, 2.0), st.floats(0.0, 1.5)),
    st.builds(
        Empirical, st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0]), min_size=1, max_size=4)
    ),
)


@st.composite
def runs(draw: st.DrawFn) -> tuple[Workload, int, int]:
    jobs = draw(st.integers(0, 60))
    workload = Workload(jobs, draw(arrivals), draw(services), seed=draw(st.integers(0, 2**16)))
    workers = draw(st.integers(1, 12))
    capacity = draw(st.one_of(st.integers(1, 8), st.just(max(jobs, 1)), st.just(10_000)))
    return workload, workers, capacity


@pytest.mark.filterwarnings("ignore::jobsim.records.BackpressureWarning")  # small channels
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_recursion_gives_the_pools_records_on_both_backends(
    run: tuple[Workload, int, int],
) -> None:
    workload, workers, capacity = run
    note(f"{workload}, workers={workers}, capacity={capacity}")
    fast = simulate(workload, workers=workers, capacity=capacity, engine="recursion")
    assert fast.settings["engine"] == "recursion"
    for backend in ("asyncio", "trio"):
        pool = simulate(
            workload, workers=workers, capacity=capacity, backend=backend, engine="pool"
        )
        assert pool.settings["engine"] == "pool"
        note(f"backend={backend}")
        pd.testing.assert_frame_equal(pool.jobs, fast.jobs, check_exact=True)
        assert pool.report == fast.report
        for key, value in pool.summary.items():
            other = fast.summary[key]
            assert value == other or (math.isnan(value) and math.isnan(other)), key
        # The trace holds the same events (the recursion orders ties its own way).
        for frame in (pool.events, fast.events):
            assert len(frame) == 4 * workload.jobs
        columns = ["job_id", "event", "time", "worker_id"]
        mine = fast.events.sort_values(columns).reset_index(drop=True)[columns]
        theirs = pool.events.sort_values(columns).reset_index(drop=True)[columns]
        pd.testing.assert_frame_equal(mine, theirs, check_exact=True)


def test_auto_takes_the_recursion_only_when_it_can() -> None:
    workload = Workload(20, Poisson(4.0), Exponential(1.0), seed=1)
    assert simulate(workload, workers=2).settings["engine"] == "recursion"
    failing = Workload(20, Batch(), Constant(1.0), failure_rate=0.5, max_attempts=2)
    assert simulate(failing, workers=2).settings["engine"] == "pool"
    stored = simulate(workload, workers=2, store=InMemoryJobStore())
    assert stored.settings["engine"] == "pool"
    assert choose_engine("auto", workload, clock="real", store=None) == "pool"
    assert choose_engine("pool", workload, clock="virtual", store=None) == "pool"


def test_recursion_refuses_what_it_cannot_describe_and_says_why() -> None:
    failing = Workload(5, Batch(), Constant(1.0), failure_rate=0.5, max_attempts=2)
    with pytest.raises(ValueError, match=r"failure_rate=0\.5 .*use engine='pool'"):
        simulate(failing, engine="recursion")
    with pytest.raises(ValueError, match="engine must be one of auto, pool, recursion"):
        simulate(failing, engine="fast")
    reasons = unsupported(Workload(5, kind="cpu-thread"), clock="real", store=object())
    assert [r.split("=")[0].split(" ")[0] for r in reasons] == ["kind", "clock", "store"]


def test_the_seeds_table_by_recursion() -> None:
    for workers, makespan in ((1, 100.0), (10, 10.0)):
        result = simulate(Workload(100, Batch(), Constant(1.0)), workers=workers)
        assert result.settings["engine"] == "recursion"
        assert result.summary["makespan"] == makespan
        assert result.summary["utilisation"] == 1.0


def test_backpressure_delays_the_producer() -> None:
    """One worker, one slot, four jobs at t = 0 of 1 s: job 0 runs, job 1 waits in the channel,
    job 2 is stored at 0 but enters the channel only when job 0 ends; job 3 is submitted then."""
    s = schedule([0.0] * 4, [1.0] * 4, workers=1, capacity=1)
    assert s.submitted.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert s.queued.tolist() == [0.0, 0.0, 1.0, 2.0]
    assert s.started.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert s.finished.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert (s.shutdown, s.end) == (2.0, 4.0)


def test_idle_workers_take_jobs_in_the_order_they_became_idle() -> None:
    """Worker 2 frees up before worker 1, so the next arrival goes to worker 2."""
    s = schedule([0.0, 0.0, 5.0, 6.0], [3.0, 1.0, 1.0, 1.0], workers=2, capacity=10)
    assert s.worker.tolist() == [1, 2, 2, 1]
