"""The job service on loopback: POST /jobs throughput and latency percentiles vs workers.

For each worker count a ``python -m jobsim serve`` child starts on a free port (memory store,
a queue large enough that no POST waits for room); an httpx async client in this process then
sends ``jobs`` POSTs with ``concurrency`` requests in flight (one task per connection, so
httpx's pool never queues). ``makespan_s`` is the wall time of all POSTs, ``throughput_jobs_s``
the acknowledged (201) jobs per second, ``latency_*`` the per-request round trips. With the
default ``duration=0`` the jobs are no-ops: the figures are the HTTP + pool overhead, so more
workers should change little; pass ``duration=`` to make the handler sleep.

Client and server share the machine, and the client (httpx) costs several times more CPU per
request than the server; ``server_cpu_per_post_s`` and ``client_cpu_per_post_s`` (CPU seconds
per POST, from /proc and ``process_time``) show the split and are much steadier than wall-clock
figures on a busy machine. ``1 / server_cpu_per_post_s`` bounds what one server core sustains.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pandas as pd

from benchmarks._harness import Options, add_speedup, order_columns

__all__ = ["DEFAULT_WORKERS", "notes", "run"]

DEFAULT_WORKERS: tuple[int, ...] = (1, 10, 100)
QUICK_WORKERS: tuple[int, ...] = (1, 10)
DEFAULT_JOBS = 2000
QUICK_JOBS = 300
DEFAULT_CONCURRENCY = 32

TABLE_METRICS = (
    "throughput_jobs_s",
    "latency_p50_s",
    "latency_p99_s",
    "server_cpu_per_post_s",
    "client_cpu_per_post_s",
)


class _Server:
    """A ``python -m jobsim serve`` child on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobsim", "serve"],
            env={**os.environ, "PORT": "0", **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url()

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
        raise RuntimeError("jobsim serve did not start:\n" + "".join(seen))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _post_many(url: str, jobs: int, concurrency: int) -> dict[str, Any]:
    latencies = np.empty(jobs)
    statuses: dict[int, int] = {}
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await client.get("/health")  # warm up one connection

        async def sender() -> None:
            nonlocal next_index
            while next_index < jobs:
                i = next_index
                next_index += 1
                t0 = time.perf_counter()
                r = await client.post("/jobs", json={"type": "bench", "payload": {"i": i}})
                latencies[i] = time.perf_counter() - t0
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter()
        cpu_start = time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(min(concurrency, jobs)):
                tg.start_soon(sender)
        makespan = time.perf_counter() - start
        client_cpu = time.process_time() - cpu_start
    accepted = statuses.get(201, 0)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {
        "makespan_s": makespan,
        "throughput_jobs_s": accepted / makespan,
        "latency_p50_s": float(p50),
        "latency_p95_s": float(p95),
        "latency_p99_s": float(p99),
        "accepted": accepted,
        "rejected": statuses.get(503, 0),
        "other_status": jobs - accepted - statuses.get(503, 0),
        "client_cpu_per_post_s": client_cpu / jobs,
    }


def run(
    options: Options | None = None,
    /,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    **changes: Any,
) -> pd.DataFrame:
    """POST throughput and p50/p95/p99 latency on loopback, one row per (workers, repeat).

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``workers``: the service's worker counts; ``jobs``: POSTs per run; ``duration``: seconds
    each job sleeps (default 0); ``backend``: asyncio only (uvicorn); ``clock``: real only.
    ``concurrency``: requests in flight at once.
    """
    o = Options.of(options, **changes)
    if o.backend not in ("asyncio", None):
        raise ValueError(
            f"the http suite runs on asyncio only (uvicorn), got backend={o.backend!r}"
        )
    o.require_clock("real", suite="http", why="measures real time only")
    quick, repeat, workers, jobs = o.quick, o.repeat, o.workers, o.jobs
    duration, progress = o.duration or 0.0, o.progress
    sweep = list(workers or (QUICK_WORKERS if quick else DEFAULT_WORKERS))
    n = jobs or (QUICK_JOBS if quick else DEFAULT_JOBS)
    rows = []
    for w in sweep:
        env = {
            "WORKER_COUNT": str(w),
            "JOB_QUEUE_CAPACITY": str(max(n, 100)),
            "JOBSIM_JOB_DURATION": repr(duration),
            "JOBSIM_SHUTDOWN_GRACE": "30",
        }
        server = _Server(env)
        try:
            for r in range(repeat):
                server_cpu = _cpu_seconds(server.proc.pid)
                result = anyio.run(_post_many, server.url, n, concurrency, backend="asyncio")
                result["server_cpu_per_post_s"] = (_cpu_seconds(server.proc.pid) - server_cpu) / n
                rows.append(
                    {
                        "suite": "http",
                        "backend": "asyncio",
                        "clock": "real",
                        "store": "memory",
                        "workers": w,
                        "repeat": r,
                        "jobs": n,
                        "concurrency": concurrency,
                        "duration_s": duration,
                        **result,
                    }
                )
                if progress:
                    print(
                        f"  http workers={w} repeat={r}: "
                        f"{result['throughput_jobs_s']:.0f} POST/s, "
                        f"p99 {result['latency_p99_s'] * 1000:.1f} ms, CPU per POST: "
                        f"server {result['server_cpu_per_post_s'] * 1000:.2f} ms, "
                        f"client {result['client_cpu_per_post_s'] * 1000:.2f} ms",
                        file=sys.stderr,
                    )
        finally:
            server.close()
    frame = pd.DataFrame(rows)
    frame = add_speedup(frame, ["suite"], baseline_workers=min(sweep))
    return order_columns(frame)


def notes(frame: pd.DataFrame) -> list[str]:
    """One line per worker count: median throughput and p99."""
    out = []
    for w, group in frame.groupby("workers"):
        out.append(
            f"workers={w}: {group['throughput_jobs_s'].median():.0f} POST/s (median), "
            f"p99 {group['latency_p99_s'].median() * 1000:.1f} ms, "
            f"server CPU {group['server_cpu_per_post_s'].median() * 1000:.2f} ms/POST, "
            f"client CPU {group['client_cpu_per_post_s'].median() * 1000:.2f} ms/POST, "
            f"{int(group['rejected'].sum())} rejected"
        )
    return out
