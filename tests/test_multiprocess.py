"""Several ``python -m jobsim worker`` processes on one SQLite file / one PostgreSQL database.

* 4 processes x 10 workers, 20,000 jobs: every job completed exactly once (the handler
  records each run in a file per process; we count the lines).
* ``kill -9`` of a process mid-job: once its lease lapses another process runs the job again,
  which ends completed with ``attempts == 2``.
* SQLite: jobs still pending when a process stops are run after a restart.

Real processes and real time, with short leases and zero-length jobs to stay quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from jobsim import Job, JobStatus
from jobsim.stores import open_store

TESTS = Path(__file__).parent
JOBS = 20_000


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh shared store: a new SQLite file, or a new database on the session's server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    import psycopg

    server: str = request.getfixturevalue("postgres_url")
    base, _, _ = server.rpartition("/")
    name = f"mp_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    close_stores()
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_open: dict[str, Any] = {}


def store_call(url: str, fn: Callable[[Any], Any]) -> Any:
    """``await fn(store)`` from a sync test. One store per URL stays open for the test (the
    SQL stores work from any event loop: their database threads wake whichever loop waits)."""

    async def run() -> Any:
        if url not in _open:
            _open[url] = await open_store(url)
        return await fn(_open[url])

    return anyio.run(run)


def close_stores() -> None:
    stores = list(_open.values())
    _open.clear()

    async def close() -> None:
        for store in stores:
            await store.close()

    anyio.run(close)


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


class Workers:
    """Worker processes started with ``python -m jobsim worker`` and the handler above."""

    def __init__(self, url: str, results: Path) -> None:
        self.url = url
        self.results = results
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *, workers: int = 10, lease: float = 2.0) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
            "JOBSIM_TEST_RESULTS": str(self.results),
        }
        cmd = [
            sys.executable, "-m", "jobsim", "worker",
            "--store", self.url, "--workers", str(workers), "--lease", str(lease),
            "--name", name, "--handler", "mp_handlers:record", "--poll", "0.2", "--grace", "10",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=open(self.results / f"{name}.log", "w"),  # noqa: SIM115
            text=True,
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> str:
        """SIGTERM, wait, check the graceful exit; returns its summary line."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        log = (self.results / f"{name}.log").read_text()
        assert proc.returncode == 0, f"worker {name} exited {proc.returncode}:\n{log[-3000:]}"
        assert f"jobsim worker {name}:" in out, out
        return out.strip().splitlines()[-1]

    def kill_all(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        self.procs.clear()

    def runs(self, event: str = "done") -> Counter[tuple[str, int]]:
        """How often each ``(job id, attempt)`` reached ``event`` over all processes."""
        counts: Counter[tuple[str, int]] = Counter()
        for path in self.results.glob("*.txt"):
            for line in path.read_text().splitlines():
                kind, job_id, attempts = line.split()
                if kind == event:
                    counts[(job_id, int(attempts))] += 1
        return counts


@pytest.fixture
def workers(store_url: str, tmp_path: Path) -> Iterator[Workers]:
    results = tmp_path / "results"
    results.mkdir()
    group = Workers(store_url, results)
    try:
        yield group
    finally:
        group.kill_all()


def wait_until(check: Callable[[], bool], what: str, timeout: float, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for name, proc in workers.procs.items():
            if proc.poll() is not None:
                log = (workers.results / f"{name}.log").read_text()
                pytest.fail(f"worker {name} died (exit {proc.returncode}):\n{log[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def counts(url: str) -> dict[JobStatus, int]:
    return store_call(url, lambda s: s.counts())  # type: ignore[no-any-return]


def test_four_processes_run_every_job_exactly_once(store_url: str, workers: Workers) -> None:
    jobs = [Job(type="mp") for _ in range(JOBS)]
    store_call(store_url, lambda s: s.add_many(jobs))
    names = [f"p{i}" for i in range(4)]
    for name in names:
        workers.start(name, workers=10)
    wait_until(lambda: counts(store_url)[JobStatus.COMPLETED] == JOBS, "all jobs", 150, workers)
    summaries = [workers.stop(name) for name in names]

    runs = workers.runs("done")
    assert len(runs) == JOBS and set(runs.values()) == {1}  # each job ran once...
    assert {job_id for job_id, _ in runs} == {j.id for j in jobs}  # ...every one of them
    assert all(attempts == 1 for _, attempts in runs)  # no lease ever lapsed
    assert counts(store_url) == {**dict.fromkeys(JobStatus, 0), JobStatus.COMPLETED: JOBS}
    completed = [int(s.split(": ")[1].split()[0]) for s in summaries]
    assert sum(completed) == JOBS, summaries
    assert all(n > 0 for n in completed), f"a process got no work: {summaries}"


def test_a_killed_process_job_is_run_again_after_its_lease(
    store_url: str, workers: Workers
) -> None:
    job = Job(type="slow", payload={"sleep_first": 120})
    store_call(store_url, lambda s: s.add(job))
    victim = workers.start("victim", workers=1, lease=1.0)

    def claimed_by_victim() -> bool:
        got = store_call(store_url, lambda s: s.get(job.id))
        return bool(got.status is JobStatus.PROCESSING and got.worker_id == "victim-1")

    wait_until(claimed_by_victim, "the victim to claim the job", 30, workers)
    victim.kill()  # SIGKILL: no cleanup, the job stays 'processing' with a lease
    victim.wait()
    workers.procs.pop("victim")
    assert store_call(store_url, lambda s: s.get(job.id)).status is JobStatus.PROCESSING

    workers.start("rescuer", workers=2, lease=1.0)
    wait_until(
        lambda: store_call(store_url, lambda s: s.get(job.id)).status is JobStatus.COMPLETED,
        "the rescuer to complete the job",
        60,
        workers,
    )
    workers.stop("rescuer")
    done = store_call(store_url, lambda s: s.get(job.id))
    assert (done.status, done.attempts, done.result) == (JobStatus.COMPLETED, 2, job.id)
    assert done.worker_id is not None and done.worker_id.startswith("rescuer-")
    assert workers.runs("start") == {(job.id, 1): 1, (job.id, 2): 1}  # started twice...
    assert workers.runs("done") == {(job.id, 2): 1}  # ...finished once, by the rescuer


def test_sqlite_jobs_pending_at_a_stop_run_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    results = tmp_path / "results"
    results.mkdir()
    group = Workers(url, results)
    try:
        jobs = [Job(type="paced", payload={"duration": 0.02}) for _ in range(300)]
        store_call(url, lambda s: s.add_many(jobs))
        group.start("first", workers=2)
        wait_until(lambda: counts(url)[JobStatus.COMPLETED] >= 20, "some progress", 60, group)
        group.stop("first")
        after_stop = counts(url)
        assert after_stop[JobStatus.PROCESSING] == 0  # a graceful stop leaves nothing claimed
        assert after_stop[JobStatus.PENDING] > 0  # work was left for the restart

        group.start("second", workers=10)
        wait_until(lambda: counts(url)[JobStatus.COMPLETED] == 300, "the rest", 60, group)
        group.stop("second")
    finally:
        group.kill_all()
    runs = group.runs("done")
    assert len(runs) == 300 and set(runs.values()) == {1}
