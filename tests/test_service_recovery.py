"""``jobsim serve`` on a persistent store recovers like a worker (pull mode with leases), never
says "drained" while acknowledged jobs are pending, and answers 503 while its PostgreSQL
store is unreachable. Real processes, real SQLite files, a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import own_postgres as start_postgres
from servers import with_store
from test_http_server import SUMMARY, server

from jobsim import Job, JobStatus


def _wait(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_service_runs_pending_jobs_and_recovers_a_dead_holders(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    async def seed(store: Any) -> list[str]:
        jobs = [Job(payload={"duration": 0.1}) for _ in range(8)]
        await store.add_many(jobs)
        for holder in ("crashed-1", "crashed-2"):  # claimed by a process that then died
            await store.claim_next(holder, 0.5)
        return [j.id for j in jobs]

    ids = with_store(url, seed)
    with server({"JOBSIM_STORE": url}, "--lease", "1", "--workers", "4") as child:
        child.url()
        _wait(lambda: with_store(url, lambda s: s.counts())[JobStatus.COMPLETED] == 8, "8 jobs")
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log
    summary = SUMMARY.search(child.log)
    assert summary is not None, child.log
    assert (summary["how"], summary["completed"], summary["pending"]) == ("drained", "8", "0")
    jobs = with_store(url, lambda s: s.list())
    assert {j.id for j in jobs} == set(ids)
    assert sorted(j.attempts for j in jobs) == [1] * 6 + [2, 2]  # the dead holder's ran again


def test_the_shutdown_line_never_says_drained_with_jobs_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {"JOBSIM_STORE": url, "JOBSIM_SHUTDOWN_GRACE": "1"}
    with server(env, "--lease", "2", "--workers", "1") as child:
        base = child.url()
        for _ in range(5):
            response = httpx.post(f"{base}/jobs", json={"type": "t", "payload": {"duration": 2}})
            assert response.status_code == 201, response.text
        _wait(lambda: with_store(url, lambda s: s.counts())[JobStatus.PROCESSING] == 1, "a start")
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log
    summary = SUMMARY.search(child.log)
    assert summary is not None, child.log
    assert summary["how"] != "drained" and int(summary["pending"]) >= 4, child.log
    counts = with_store(url, lambda s: s.counts())
    assert counts[JobStatus.PENDING] == int(summary["pending"])  # kept for the next start
    assert counts[JobStatus.PROCESSING] == 0


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    with start_postgres() as pg:
        yield pg


def test_health_and_posts_answer_503_while_the_store_is_unreachable(own_postgres: Any) -> None:
    with server({"JOBSIM_STORE": own_postgres.url}, "--lease", "2") as child:
        base = child.url()
        assert httpx.get(f"{base}/health").status_code == 200
        own_postgres.pause()
        try:
            # The first statement after the cut notices the outage and waits it out: if it is
            # this request's, the request hangs; if the pool's own statements (lease renewals,
            # polls) came first, as on a loaded machine where the server takes long to stop,
            # it is answered 503 at once. From then on answers are at once.
            with contextlib.suppress(httpx.TimeoutException):
                first = httpx.get(f"{base}/health", timeout=1.0)
                assert first.status_code == 503, first.text
            health = httpx.get(f"{base}/health", timeout=5.0)
            assert health.status_code == 503, health.text
            assert "unreachable" in health.json()["error"]
            post = httpx.post(
                f"{base}/jobs", json={"type": "t", "payload": {"duration": 0}}, timeout=5.0
            )
            assert post.status_code == 503 and "not stored" in post.json()["error"]
            assert post.headers["Retry-After"] == "1"
        finally:
            own_postgres.resume()
        _wait(lambda: httpx.get(f"{base}/health", timeout=5.0).status_code == 200, "recovery")
        post = httpx.post(f"{base}/jobs", json={"type": "t", "payload": {"duration": 0}})
        assert post.status_code == 201, post.text
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log
    assert sum("unreachable (" in line for line in child.lines) == 1, child.log
