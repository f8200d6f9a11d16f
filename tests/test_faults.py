"""Fault injection: several worker processes on SQLite and on PostgreSQL, under fire.

Random ``kill -9``, ``SIGTERM`` with a grace period longer than the lease (running jobs must
keep their leases while they drain), retries whose delay is longer than the lease, jobs longer
than the lease, and on PostgreSQL a server restart and a ~10 s outage mid-run. Then the
handlers' own logs are audited (see ``tests/faults.py``): every job completed; a job ran again
only when a process was killed while running it; two runs of a job never overlapped; no
process exited non-zero except the killed ones; nothing is left ``processing``.

The figures of each run are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults import Cluster, audit
from servers import own_postgres as start_postgres
from servers import with_store

from jobsim import Job, JobStatus

pytestmark = pytest.mark.slow

# Renewed every LEASE / 3, a lease lapses only if its holder cannot renew for 2/3 of it. At
# 1 s, a stall of a worker process on a loaded two-core machine (load average 7) once lapsed
# one, and its job ran twice (the store refused the stale outcome, as it must, but the audit
# rightly counts the run). 4 s needs a stall of 2.7 s. Jobs and retry delays still outlast a
# lease, so a holder that failed to renew would still show as a double run; a kill -9's jobs
# come back after at most one lease, and the test waits for that by condition.
LEASE = 4.0
# Longer than the lease, than any job, and than PostgreSQL's outage with its restart: a
# SIGTERM drains, never interrupts, and never gives up on an outcome it could not yet write.
GRACE = 30.0


def _jobs(rng: random.Random, n: int) -> tuple[list[Job], dict[str, int]]:
    jobs, fail_until = [], {}
    for _ in range(n):
        draw = rng.random()
        duration = LEASE * 1.25 if draw < 0.1 else rng.uniform(0.05, 0.5)  # some outlast a lease
        # 10% fail once (retried after 1.5 leases), 5% twice (then again after 3 more)
        fails = 2 if draw > 0.95 else (1 if draw > 0.85 else 0)
        job = Job(type="chaos", payload={"duration": duration, "fail_until": fails})
        job.max_attempts = 3
        jobs.append(job)
        fail_until[job.id] = fails
    return jobs, fail_until


def _chaos(url: str, tmp_path: Path, seed: int, outages: Any = None) -> None:
    rng = random.Random(seed)
    results = tmp_path / "results"
    results.mkdir()
    jobs, fail_until = _jobs(rng, 100)
    assert {1, 2} <= set(fail_until.values()), "some jobs must fail once, some twice"
    with_store(url, lambda s: s.add_many(jobs))
    cluster = Cluster(url, results, lease=LEASE, grace=GRACE)
    try:
        for _ in range(3):
            cluster.start_worker(workers=4)
        started = time.monotonic()
        events = [(1.5 * i + 1.0, "kill" if i % 2 == 0 else "term") for i in range(6)]
        events += list(outages or [])
        for at, what in sorted(events):
            while time.monotonic() - started < at:
                cluster.check_alive()
                cluster.reap()
                time.sleep(0.05)
            if what == "kill":
                cluster.kill9(cluster.random_worker(rng))
                cluster.start_worker(workers=4)
            elif what == "term":
                cluster.sigterm(cluster.random_worker(rng))
                cluster.start_worker(workers=4)
            else:
                what()  # an outage: a callable
                cluster.figures.outages.append(what.__name__)
        deadline = time.monotonic() + 120
        while with_store(url, lambda s: s.counts())[JobStatus.COMPLETED] < len(jobs):
            cluster.check_alive()
            cluster.reap()
            assert time.monotonic() < deadline, "the jobs never all completed"
            time.sleep(0.2)
        cluster.stop_all()
        final = with_store(url, lambda s: s.list())
        figures = audit(cluster, fail_until, final)
    finally:
        cluster.kill_everything()
    print(f"\nfaults [{url.split(':')[0]}]: {figures.summary()}")
    assert not figures.problems, "\n".join(figures.problems[:20])
    assert figures.duplicates_unexplained == 0 and figures.overlaps == 0
    counts = with_store(url, lambda s: s.counts())
    assert counts[JobStatus.PROCESSING] == 0 and counts[JobStatus.COMPLETED] == len(jobs)


def test_sqlite_survives_kills_and_drains(tmp_path: Path) -> None:
    _chaos(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path, seed=1)


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL server of this test's own, which it may stop and restart."""
    with start_postgres(dbname=f"faults_{uuid.uuid4().hex[:8]}") as server:
        yield server


def test_postgresql_survives_kills_drains_a_restart_and_an_outage(
    tmp_path: Path, own_postgres: Any
) -> None:
    def restart() -> None:
        own_postgres.restart()

    def outage_10s() -> None:
        own_postgres.pause()
        time.sleep(10)
        own_postgres.resume()

    _chaos(own_postgres.url, tmp_path, seed=2, outages=[(3.2, restart), (6.2, outage_10s)])


def test_a_worker_gives_up_after_the_outage_limit_in_one_line(
    tmp_path: Path, own_postgres: Any
) -> None:
    import subprocess
    import sys

    with_store(own_postgres.url, lambda s: s.add(Job(payload={"duration": 0.1})))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobsim", "worker", "--store", own_postgres.url,
         "--outage-limit", "2", "--poll", "0.2", "--name", "idle"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    while "workers pulling" not in (line := proc.stderr.readline()):
        assert line, "the worker never started"
    time.sleep(1.0)
    own_postgres.pause()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        own_postgres.resume()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "ExceptionGroup" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("jobsim worker idle: store postgresql://"), err
    assert "unreachable for" in last and "(limit 2 s)" in last, err
    assert sum("unreachable (" in line for line in err.splitlines()) == 1, err  # logged once
