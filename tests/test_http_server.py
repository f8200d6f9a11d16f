"""``python -m jobsim serve`` as a real process: configuration errors, the shutdown order on
SIGTERM/SIGINT under load, and the forced exit on a second signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import pytest

import jobsim.stores

SUMMARY = re.compile(
    r"jobsim serve stopped \((?P<how>[^)]*)\): (?P<completed>\d+) completed, (?P<failed>\d+) "
    r"failed, (?P<cancelled>\d+) cancelled, (?P<pending>\d+) pending, (?P<interrupted>\d+) "
    r"interrupted"
)


class ServerProcess:
    """A ``python -m jobsim serve`` child whose stderr is collected line by line."""

    def __init__(self, env: Mapping[str, str], args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobsim", "serve", *args],
            env={**os.environ, "PORT": "0", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + self.log)
                self._seen.wait(min(left, 0.1))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def url(self) -> str:
        return self.wait_for_line(r"listening on (http://\S+):").group(1)

    def stop(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def server(env: Mapping[str, str], *args: str) -> Iterator[ServerProcess]:
    child = ServerProcess(env, list(args))
    try:
        yield child
    finally:
        child.kill()


def run_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobsim", "serve", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "args", "name"),
    [
        ({"PORT": "99999999"}, [], "PORT"),
        ({}, ["--capacity", "-3"], "JOB_QUEUE_CAPACITY"),
        ({"JOBSIM_STORE": "carrier-pigeon://coop"}, [], "JOBSIM_STORE"),
    ],
)
def test_bad_configuration_exits_2_naming_the_variable(
    env: dict[str, str], args: list[str], name: str
) -> None:
    done = run_cli(env, *args)
    assert done.returncode == 2, done.stderr
    assert name in done.stderr
    assert "listening" not in done.stderr  # nothing started


def _sqlite_env(tmp_path: Path) -> tuple[dict[str, str], Path | None]:
    """A sqlite store when the store layer can open one by URL (``open_store``); else memory."""
    if getattr(jobsim.stores, "open_store", None) is None:
        return {}, None
    db = tmp_path / "jobs.db"
    return {"JOBSIM_STORE": f"sqlite:///{db}"}, db


async def _read_store(db: Path) -> dict[str, str]:
    store = jobsim.stores.open_store(f"sqlite:///{db}")  # type: ignore[attr-defined]
    if hasattr(store, "__await__"):
        store = await store
    try:
        return {job.id: job.status.value for job in await store.list()}
    finally:
        await store.close()


def test_2000_concurrent_posts_then_sigterm_loses_no_acknowledged_job(tmp_path: Path) -> None:
    store_env, db = _sqlite_env(tmp_path)
    # Jobs of 2 s on 400 workers: they are still running when the last POST is answered (on
    # a loaded machine the flood can outlast them: one 3 s job posted after it still runs).
    env = {
        "WORKER_COUNT": "400",
        "JOB_QUEUE_CAPACITY": "2000",
        "JOBSIM_JOB_DURATION": "2",
        "JOBSIM_SHUTDOWN_GRACE": "120",
        "JOBSIM_MAX_CONNECTIONS": "4000",  # 2,000 in flight at once is the point
        "JOBSIM_KEEP_FINISHED": "5000",  # every job is read back from the store at the end
        **store_env,
    }
    with server(env) as child:
        url = child.url()
        statuses: dict[int, int] = {}
        accepted: list[str] = []

        async def post_all() -> dict[str, int]:
            # 2,000 requests in flight at once over 2,000 connections: 20 clients of 100
            # (one httpx pool with thousands of waiting requests gets quadratically slow).
            async def client_of_100(first: int) -> None:
                limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
                async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

                    async def post(i: int) -> None:
                        body = {"type": "load", "payload": {"i": i}}
                        r = await client.post("/jobs", json=body)
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code == 201:
                            accepted.append(r.json()["id"])

                    async with anyio.create_task_group() as tg:
                        for i in range(first, first + 100):
                            tg.start_soon(post, i)

            async with anyio.create_task_group() as tg:
                for first in range(0, 2000, 100):
                    tg.start_soon(client_of_100, first)
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                body = {"type": "last", "payload": {"duration": 3}}
                last = await client.post("/jobs", json=body)
                assert last.status_code == 201, last.text
                statuses[201] = statuses.get(201, 0) + 1
                accepted.append(last.json()["id"])
                counts: dict[str, int] = (await client.get("/health")).json()["counts"]
            return counts

        counts = anyio.run(post_all)
        # 201 stored and queued; 503 refused (queue full or at the connection limit); 408: a
        # connection the starved client opened but wrote nothing on for JOBSIM_IDLE_TIMEOUT
        # (5 s) is refused, and the request that was on its way is dropped, never stored.
        # Every answer is a status: a reset connection (httpx.ReadError) fails the test.
        assert set(statuses) <= {201, 503, 408}, statuses
        assert len(accepted) == statuses.get(201, 0) > 0, statuses
        # SIGTERM while jobs still run: some are queued or processing right now.
        assert counts["pending"] + counts["processing"] > 0, counts
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log
    summary = SUMMARY.search(child.log)
    assert summary is not None, child.log
    assert summary["how"] == "drained"
    assert int(summary["completed"]) == len(accepted)  # every 201 ran to completion
    assert int(summary["pending"]) == int(summary["interrupted"]) == int(summary["failed"]) == 0
    # The Go service's order, in the log: server first, then intake, channel, workers.
    order = [
        "SIGTERM: stopping intake",
        "HTTP server stopped",
        "shutdown: intake closed",
        "shutdown: channel closed",
        "shutdown complete",
        "jobsim serve stopped",
    ]
    positions = [next(i for i, line in enumerate(child.lines) if s in line) for s in order]
    assert positions == sorted(positions), child.log
    if db is not None:  # the store agrees: exactly the acknowledged jobs, all completed
        stored = anyio.run(_read_store, db)
        assert sorted(stored) == sorted(accepted)
        assert set(stored.values()) == {"completed"}


def test_second_signal_forces_exit_and_puts_running_jobs_back() -> None:
    env = {"WORKER_COUNT": "2", "JOBSIM_JOB_DURATION": "60", "JOBSIM_SHUTDOWN_GRACE": "600"}
    with server(env) as child:
        url = child.url()
        with httpx.Client(base_url=url) as client:
            for i in range(4):
                assert client.post("/jobs", json={"type": "slow", "payload": {"i": i}}).is_success
            deadline = time.monotonic() + 10
            while client.get("/health").json()["busy"] < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        child.proc.send_signal(signal.SIGINT)
        child.wait_for_line("HTTP server stopped; draining the pool")
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 1, child.log
    summary = SUMMARY.search(child.log)
    assert summary is not None, child.log
    assert summary["how"] == "forced exit"
    assert int(summary["completed"]) == 0
    assert int(summary["interrupted"]) == 2  # the two running jobs went back to pending
    assert int(summary["pending"]) == 4


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_serve_on_the_chosen_event_loop(loop: str) -> None:
    with server({"WORKER_COUNT": "2", "JOBSIM_JOB_DURATION": "0"}, "--loop", loop) as child:
        url = child.url()
        assert child.wait_for_line(r"listening on .*, loop (\w+)").group(1) == loop
        with httpx.Client(base_url=url) as client:
            job = client.post("/jobs", json={"type": "t", "payload": {}}).json()
            for _ in range(100):
                if client.get(f"/jobs/{job['id']}").json()["status"] == "completed":
                    break
                time.sleep(0.05)
            assert client.get(f"/jobs/{job['id']}").json()["status"] == "completed"
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log


def test_serve_settles_its_heap_once_listening() -> None:
    """The command owns its process: once it listens, its start-up heap is frozen out of the
    garbage collector's passes and young objects are collected every 10,000 allocations (a
    POST waiting for a store's commit kept Python's default 700 busy)."""
    env = {"WORKER_COUNT": "1", "JOBSIM_JOB_DURATION": "0"}
    with server(env, "--log-level", "debug") as child:
        child.url()
        line = child.wait_for_line(
            r"garbage collector: (\d+) start-up objects frozen, young generation collected "
            r"every (\d+) allocations"
        )
        assert int(line.group(1)) > 10_000  # modules, the app, its routes and models
        assert int(line.group(2)) == 10_000
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log


def test_serve_names_a_bad_loop() -> None:
    done = run_cli({}, "--loop", "tokio")
    assert done.returncode == 2
    assert "--loop" in done.stderr and "uvloop" in done.stderr
