"""Virtual time is deterministic: a run's records never depend on the scheduler's choices,
on wake-ups from other threads (a loaded machine, real I/O), on the garbage collector or on
the hash seed of the process."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import sniffio

from jobsim import Bursts, Constant, Exponential, Poisson, RetryPolicy, Uniform, Workload, simulate
from jobsim.sequencer import Sequencer

# Ties everywhere (bursts of 7 arrivals, 4 workers) and a queue that builds up and drains.
BURSTS = Workload(300, Bursts(7, 1.0), Uniform(0.5, 1.5), seed=6)
MM = Workload(400, Poisson(3.6), Exponential(1.0), seed=4)
WORKLOADS = {"bursts": BURSTS, "mm": MM}


def _jobs(workload: Workload, backend: str) -> pd.DataFrame:
    return simulate(
        workload, workers=4, capacity=workload.jobs, backend=backend, engine="pool"
    ).jobs


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv().encode()).hexdigest()


@pytest.fixture
def trio_rng() -> Iterator[object]:
    """trio's own scheduler RNG (it reverses each batch of runnable tasks at random)."""
    import trio._core._run as trio_run

    state = trio_run._r.getstate()
    yield trio_run._r
    trio_run._r.setstate(state)


@pytest.mark.parametrize("shuffle", [False, True], ids=["reverse", "shuffle"])
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_trio_scheduling_choices_do_not_change_the_records(
    name: str, shuffle: bool, trio_rng: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trio reverses each batch at random, or shuffles it fully once Hypothesis is imported
    (its "deterministic" mode, as in a test session that has Hypothesis tests)."""
    import trio._core._run as trio_run

    monkeypatch.setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", shuffle)
    workload = WORKLOADS[name]
    expected = _jobs(workload, "asyncio")
    for seed in range(12):
        trio_rng.seed(seed)  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(_jobs(workload, "trio"), expected, check_exact=True)


def test_retry_backoffs_ending_together_redeliver_in_the_same_order_on_both_backends(
    trio_rng: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Un-jittered backoffs of failures at the same instant end at the same instant too."""
    import trio._core._run as trio_run

    workload = Workload(
        300, Bursts(7, 1.0), Constant(1.0), failure_rate=0.3, max_attempts=3, seed=6
    )

    def jobs(backend: str) -> pd.DataFrame:
        retry = RetryPolicy(base=0.5, jitter=False)
        return simulate(
            workload, workers=4, capacity=300, backend=backend, engine="pool", retry=retry
        ).jobs

    expected = jobs("asyncio")
    assert (expected["attempts"] > 1).sum() > 50 and expected["retry_wait"].max() > 0
    for shuffle in (False, True):
        monkeypatch.setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", shuffle)
        for seed in range(4):
            trio_rng.seed(seed)  # type: ignore[attr-defined]
            pd.testing.assert_frame_equal(jobs("trio"), expected, check_exact=True)


def test_garbage_collection_at_arbitrary_points_does_not_change_the_records() -> None:
    expected = {backend: _jobs(BURSTS, backend) for backend in ("asyncio", "trio")}
    thresholds = gc.get_threshold()
    try:
        for threshold in (1, 7, 50):
            gc.set_threshold(threshold, 1, 1)
            for backend, frame in expected.items():
                pd.testing.assert_frame_equal(_jobs(BURSTS, backend), frame, check_exact=True)
    finally:
        gc.set_threshold(*thresholds)


def _poke_from_a_thread(stop: threading.Event) -> Callable[[], threading.Thread]:
    """A thread that wakes the running loop from outside as fast as it can, the way real
    I/O and other threads do on a loaded machine."""
    if sniffio.current_async_library() == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()

        def poke() -> None:
            token.run_sync_soon(lambda: None)
    else:
        loop = asyncio.get_running_loop()

        def poke() -> None:
            loop.call_soon_threadsafe(lambda: None)

    def noise() -> None:
        while not stop.is_set():
            try:
                poke()
            except RuntimeError:  # the run ended
                return
            time.sleep(0.0001)

    return lambda: threading.Thread(target=noise, daemon=True)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_wake_ups_from_other_threads_do_not_change_the_records(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _jobs(MM, "asyncio")
    arbitrate = Sequencer.run
    threads: list[threading.Thread] = []

    async def run_with_noise(self: Sequencer) -> None:
        stop = threading.Event()
        thread = _poke_from_a_thread(stop)()
        threads.append(thread)
        thread.start()
        try:
            await arbitrate(self)
        finally:
            stop.set()

    monkeypatch.setattr(Sequencer, "run", run_with_noise)
    for _ in range(3):
        pd.testing.assert_frame_equal(_jobs(MM, backend), expected, check_exact=True)
    assert len(threads) == 3
    for thread in threads:
        thread.join(5)


_CHILD = """
import hashlib, sys
from jobsim import Bursts, Uniform, Workload, simulate
w = Workload(300, Bursts(7, 1.0), Uniform(0.5, 1.5), seed=6)
for backend in ("asyncio", "trio"):
    jobs = simulate(w, workers=4, capacity=w.jobs, backend=backend, engine="pool").jobs
    print(hashlib.sha256(jobs.to_csv().encode()).hexdigest())
"""


def test_records_do_not_depend_on_the_hash_seed_of_the_process() -> None:
    expected = _digest(_jobs(BURSTS, "asyncio"))
    for hash_seed in ("0", "1", "4242"):
        env = os.environ | {"PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        assert out == [expected, expected], f"PYTHONHASHSEED={hash_seed}"
