"""The job service's server CPU per ``POST /jobs``, against a minimal FastAPI app.

Three servers run as child processes on loopback, each with the same uvicorn settings
(httptools, asyncio's own loop, one process): the **baseline**, a minimal FastAPI app that
validates the same body with a similar pydantic model and keeps it in a dict
(:mod:`benchmarks.http_baseline`), and ``python -m jobsim serve`` with the **memory** store
and with a **sqlite** store (a fresh file). All three start before anything is measured;
after one discarded warm-up run each, every repeat measures the three in turn (the order
rotates), so the ratios compare runs seconds apart on the same machine.

One run sends ``jobs`` POSTs over ``concurrency`` keep-alive connections from a small raw
HTTP/1.1 client in this process (a few tens of microseconds per request, so the client does
not starve the server of the CPU). A non-2xx answer fails the suite. After the last answer
the run waits until the service has run every job (``GET /health`` shows nothing pending or
processing; the jobs are no-ops by default), so ``server_cpu_per_post_s``, the server
process's user + system CPU seconds (``/proc``) divided by the POSTs, covers the whole life
of a job: the request, the store write, the pool, the run and the retention sweeps.
``cpu_ratio`` is that figure over the baseline's in the same repeat.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._harness import Options, order_columns

__all__ = ["CASES", "DEFAULT_WORKERS", "notes", "run"]

#: The servers measured, the baseline first.
CASES: tuple[str, ...] = ("baseline", "memory", "sqlite")
DEFAULT_WORKERS: tuple[int, ...] = (10,)
DEFAULT_JOBS = 3000
QUICK_JOBS = 500
DEFAULT_CONCURRENCY = 32

TABLE_METRICS = (
    "server_cpu_per_post_s",
    "cpu_ratio",
    "throughput_jobs_s",
    "latency_p50_s",
    "latency_p99_s",
)


class _Server:
    """A server child (``argv``) on a free port; its stderr is read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            env={**os.environ, "PORT": "0", **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url()
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if match := re.search(r"listening on (http://\S+):", line):
                return match.group(1)
        self.close()
        raise RuntimeError(f"{self.proc.args!r} did not start:\n" + "".join(seen))

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the child so far (Linux /proc; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _request(method: str, path: str, host: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request on a keep-alive connection; the status and body of the answer."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    return status, body


async def _post_many(server: _Server, jobs: int, concurrency: int) -> dict[str, Any]:
    latencies = np.empty(jobs)
    failures: list[tuple[int, bytes]] = []
    next_index = 0
    host = f"{server.host}:{server.port}"

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            while next_index < jobs:
                i = next_index
                next_index += 1
                body = b'{"type":"bench","payload":{"i":%d}}' % i
                t0 = time.perf_counter()
                status, answer = await _exchange(
                    reader, writer, _request("POST", "/jobs", host, body)
                )
                latencies[i] = time.perf_counter() - t0
                if not 200 <= status < 300:
                    failures.append((status, answer))
        finally:
            writer.close()

    start = time.perf_counter()
    cpu_start = time.process_time()
    await asyncio.gather(*(connection() for _ in range(min(concurrency, jobs))))
    makespan = time.perf_counter() - start
    client_cpu = time.process_time() - cpu_start
    if failures:
        status, answer = failures[0]
        raise RuntimeError(
            f"{len(failures)} of {jobs} POSTs to {server.url} were not 2xx; "
            f"first: {status} {answer[:300]!r}"
        )
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {
        "makespan_s": makespan,
        "throughput_jobs_s": jobs / makespan,
        "latency_p50_s": float(p50),
        "latency_p95_s": float(p95),
        "latency_p99_s": float(p99),
        "client_cpu_per_post_s": client_cpu / jobs,
    }


async def _settle(server: _Server, timeout: float = 120) -> None:
    """Wait until the server has no job pending or processing (polled every 20 ms)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    request = _request("GET", "/health", f"{server.host}:{server.port}")
    deadline = time.monotonic() + timeout
    try:
        while True:
            status, body = await _exchange(reader, writer, request)
            counts = re.search(rb'"pending":(\d+).*"processing":(\d+)', body)
            if status == 200 and counts and counts.group(1) == counts.group(2) == b"0":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.url} still busy after {timeout} s: {body[:300]!r}")
            await asyncio.sleep(0.02)
    finally:
        writer.close()


def _measure(server: _Server, jobs: int, concurrency: int) -> dict[str, Any]:
    async def both() -> dict[str, Any]:
        result = await _post_many(server, jobs, concurrency)
        await _settle(server)
        return result

    cpu = server.cpu_seconds()
    result = asyncio.run(both())
    result["server_cpu_per_post_s"] = (server.cpu_seconds() - cpu) / jobs
    return result


def _start(case: str, workers: int, duration: float, jobs: int, folder: Path) -> _Server:
    if case == "baseline":
        return _Server(["-m", "benchmarks.http_baseline"], {})
    env = {
        "WORKER_COUNT": str(workers),
        "JOB_QUEUE_CAPACITY": str(max(jobs, 100)),
        "JOBSIM_JOB_DURATION": repr(duration),
        "JOBSIM_SHUTDOWN_GRACE": "30",
        "JOBSIM_STORE": "memory://" if case == "memory" else f"sqlite:///{folder / 'jobs.db'}",
    }
    return _Server(["-m", "jobsim", "serve"], env)


def run(
    options: Options | None = None,
    /,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    **changes: Any,
) -> pd.DataFrame:
    """Server CPU per POST, throughput and latency of the baseline and of the job service on
    the memory and the SQLite store; one row per (case, workers, repeat).

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``workers``: the service's worker counts (default 10); ``jobs``: POSTs per run (3,000;
    500 with ``quick``); ``duration``: seconds each job sleeps (default 0); ``backend``:
    asyncio only (uvicorn); ``clock``: real only. ``concurrency``: connections, one request
    in flight on each.
    """
    o = Options.of(options, **changes)
    if o.backend not in ("asyncio", None):
        raise ValueError(
            f"the http suite runs on asyncio only (uvicorn), got backend={o.backend!r}"
        )
    o.require_clock("real", suite="http", why="measures real time only")
    duration = o.duration or 0.0
    n = o.jobs or (QUICK_JOBS if o.quick else DEFAULT_JOBS)
    rows = []
    for w in o.workers or DEFAULT_WORKERS:
        with tempfile.TemporaryDirectory(prefix="jobsim-bench-http-") as folder:
            servers: dict[str, _Server] = {}
            try:
                for case in CASES:
                    servers[case] = _start(case, w, duration, n, Path(folder))
                for server in servers.values():  # warm-up, discarded
                    _measure(server, min(n, 500), concurrency)
                for r in range(o.repeat):
                    shift = r % len(CASES)
                    for case in CASES[shift:] + CASES[:shift]:
                        result = _measure(servers[case], n, concurrency)
                        rows.append(
                            {
                                "suite": "http",
                                "backend": "asyncio",
                                "clock": "real",
                                "case": case,
                                "store": None if case == "baseline" else case,
                                "workers": w,
                                "repeat": r,
                                "jobs": n,
                                "concurrency": concurrency,
                                "duration_s": duration,
                                **result,
                            }
                        )
                        if o.progress:
                            print(
                                f"  http {case} workers={w} repeat={r}: server CPU "
                                f"{result['server_cpu_per_post_s'] * 1000:.3f} ms/POST, "
                                f"{result['throughput_jobs_s']:.0f} POST/s",
                                file=sys.stderr,
                            )
            finally:
                for server in servers.values():
                    server.close()
    frame = pd.DataFrame(rows)
    base = (
        frame[frame["case"] == "baseline"]
        .set_index(["workers", "repeat"])["server_cpu_per_post_s"]
        .rename("_base")
    )
    frame = frame.join(base, on=["workers", "repeat"])
    frame["cpu_ratio"] = frame["server_cpu_per_post_s"] / frame.pop("_base")
    return order_columns(frame)


def notes(frame: pd.DataFrame) -> list[str]:
    """One line per case: median server CPU per POST and the ratio to the baseline."""
    out = []
    for (w, case), group in frame.groupby(["workers", "case"], sort=False):
        ratios = group["cpu_ratio"]
        out.append(
            f"workers={w} {case}: server CPU {group['server_cpu_per_post_s'].median() * 1000:.3f}"
            f" ms/POST (median), {ratios.median():.2f}x the baseline "
            f"[{ratios.min():.2f}-{ratios.max():.2f}], "
            f"{group['throughput_jobs_s'].median():.0f} POST/s"
        )
    return out
