"""``python -m jobsim serve``: uvicorn and the worker pool in one task group, our shutdown order.

uvicorn's own signal handlers are switched off (:class:`_Server`); this module listens for
SIGINT/SIGTERM itself so the seed's order holds:

1. first signal: the server stops accepting and finishes the requests in flight
   (``server.should_exit``) -- every POST answered 201 has its job stored *and* queued;
2. ``pool.shutdown(drain=True, timeout=JOBSIM_SHUTDOWN_GRACE)``: intake closes, the channel
   closes, the workers run what is queued, every worker task is joined;
3. one log line sums up (completed, failed, pending, interrupted) and the process exits 0.

A second signal forces the exit: the drain is cancelled, running jobs go back to pending, exit
code 1. uvicorn needs asyncio, so :func:`serve` runs on the asyncio backend only.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import sniffio
import uvicorn
from fastapi import FastAPI

from jobsim.config import Config, ConfigError
from jobsim.domain import Job, JobStatus
from jobsim.http.app import MAX_DURATION, Instruments, create_app
from jobsim.pool import Handler, ShutdownReport, WorkerPool
from jobsim.stores.base import JobStore
from jobsim.stores.memory import InMemoryJobStore
from jobsim.stores.url import mask_url, scrub

__all__ = ["ServeResult", "Service", "builtin_handler", "main", "open_store", "serve"]

logger = logging.getLogger("jobsim.http")


def builtin_handler(default_duration: float) -> Handler:
    """The service's stand-in for real work: sleep ``payload["duration"]`` seconds (default
    ``default_duration``) and return ``{"slept": seconds}``. I/O-bound, like the seed's jobs."""

    async def handler(job: Job) -> dict[str, float]:
        duration = job.payload.get("duration")
        if duration is None:
            duration = default_duration
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not (0 <= duration <= MAX_DURATION and math.isfinite(duration))
        ):
            raise ValueError(
                f"payload.duration must be a number of seconds from 0 to {MAX_DURATION:g}, "
                f"got {duration!r}"
            )
        await anyio.sleep(duration)
        return {"slept": duration}

    return handler


async def open_store(url: str) -> JobStore:
    """The store behind ``JOBSIM_STORE``. Uses :func:`jobsim.stores.open_store` when that
    exists (sqlite, postgresql, ...); otherwise only ``memory://`` is available."""
    import jobsim.stores

    opener = getattr(jobsim.stores, "open_store", None)
    if opener is None:
        if url.rstrip("/") in {"memory:", "memory"}:
            return InMemoryJobStore()
        raise ConfigError("JOBSIM_STORE", url, "this build supports only memory://")
    try:
        store = opener(url)
        if inspect.isawaitable(store):
            store = await store
    except ConfigError:
        raise
    except (ValueError, TypeError, ImportError, OSError) as exc:
        raise ConfigError("JOBSIM_STORE", mask_url(url), scrub(str(exc), url)) from None
    return store


def _bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` ourselves, so port 0 works and errors come before any start."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError("HOST", host, f"expected a resolvable host name or IP ({exc})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: uvicorn writes headers and body separately, and
        # Nagle + delayed ACKs would add ~40 ms to every keep-alive response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: :func:`serve` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Service:
    """Handed to ``serve(ready=...)`` once the server accepts connections."""

    url: str
    port: int
    app: FastAPI
    pool: WorkerPool
    store: JobStore
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        """Begin the graceful shutdown, as a first SIGTERM would."""
        self._stop()


@dataclass(frozen=True)
class ServeResult:
    """How the service ended."""

    report: ShutdownReport
    forced: bool
    url: str

    @property
    def exit_code(self) -> int:
        return 1 if self.forced else 0


async def serve(
    config: Config,
    store: JobStore | None = None,
    ready: Callable[[Service], Any] | None = None,
    *,
    admission_wait: float = 0.5,
    access_log: bool = False,
    handle_signals: bool = True,
) -> ServeResult:
    """Run the job service until SIGINT/SIGTERM (or ``Service.stop()``), then shut down in
    the seed's order. Returns the pool's report.

    Args:
        config: settings (see :meth:`Config.from_env`); ``port=0`` picks a free port.
        store: the store to use; default: opened from ``config.store_url`` (and closed at exit).
        ready: called with a :class:`Service` once connections are accepted.
        admission_wait: seconds ``POST /jobs`` waits for room before answering 503.
        access_log: log every request (uvicorn's access log).
        handle_signals: listen for SIGINT/SIGTERM (main thread only).
    """
    if sniffio.current_async_library() != "asyncio":
        raise RuntimeError("jobsim serve runs on asyncio only (uvicorn needs it)")
    own_store = store is None
    if store is None:
        store = await open_store(config.store_url)
    try:
        sock = _bind(config.host, config.port)
    except BaseException:
        if own_store:
            await store.close()
        raise
    port = sock.getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    url = f"http://{host}:{port}"
    instruments = Instruments()
    pool = WorkerPool(
        store,
        builtin_handler(config.job_duration),
        workers=config.worker_count,
        capacity=config.job_queue_capacity,
        clock=time.time,  # epoch timestamps in the API
        tracer=instruments.trace,
    )
    app = create_app(pool, store, config, instruments=instruments, admission_wait=admission_wait)
    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=access_log,
            lifespan="off",
            timeout_graceful_shutdown=int(admission_wait + 10),
            server_header=False,
        )
    )
    stop = anyio.Event()
    server_done = anyio.Event()
    force_scope = anyio.CancelScope()
    forced = False

    def force() -> None:
        nonlocal forced
        forced = True
        server.force_exit = True
        force_scope.cancel()

    async def watch_signals(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                if not stop.is_set():
                    logger.info("%s: stopping intake, then draining the workers", name)
                    stop.set()
                else:
                    logger.warning("%s again: forcing exit, running jobs go back to pending", name)
                    force()

    async def run_server() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            server_done.set()
            stop.set()

    report: ShutdownReport | None = None
    try:
        async with anyio.create_task_group() as tg:
            if handle_signals:
                await tg.start(watch_signals)
            with force_scope:
                async with pool:
                    tg.start_soon(run_server, name="jobsim uvicorn")
                    # uvicorn offers no "started" event: poll its flag briefly.
                    while not server.started and not server_done.is_set():  # noqa: ASYNC110
                        await anyio.sleep(0.005)
                    if not server.started:
                        raise RuntimeError(f"the HTTP server did not start on {url}")
                    logger.info(
                        "listening on %s: %d workers, queue capacity %d, store %s",
                        url,
                        pool.workers,
                        pool.capacity,
                        mask_url(config.store_url),
                    )
                    if ready is not None:
                        ready(Service(url, port, app, pool, store, stop.set))
                    await stop.wait()
                    server.should_exit = True  # 1. stop accepting, finish in-flight requests
                    await server_done.wait()
                    logger.info("HTTP server stopped; draining the pool")
                    # 2.-5. intake, channel, workers, join
                    report = await pool.shutdown(drain=True, timeout=config.shutdown_grace)
            with anyio.move_on_after(2):
                await server_done.wait()
            tg.cancel_scope.cancel()  # the signal watcher
        if report is None:  # forced: the pool stopped at once, running jobs released
            counts = await store.counts()
            report = ShutdownReport(
                completed=pool.completed,
                failed=pool.failed,
                pending=counts[JobStatus.PENDING],
                interrupted=pool.interrupted,
                duplicates_skipped=pool.duplicates_skipped,
                retried=pool.retried,
                cancelled=pool.cancelled,
                drained=False,
                timed_out=True,
                elapsed=0.0,
            )
    finally:
        sock.close()
        if own_store:
            with anyio.CancelScope(shield=True):
                await store.close()
    _log_summary(report, forced, isinstance(store, InMemoryJobStore))
    return ServeResult(report=report, forced=forced, url=url)


def _log_summary(report: ShutdownReport, forced: bool, memory: bool) -> None:
    how = "forced exit" if forced else ("drained" if report.drained else "grace period ran out")
    lost_note = (
        " (memory store: pending jobs are discarded with the process)"
        if memory and report.pending
        else ""
    )
    logger.info(
        "jobsim serve stopped (%s): %d completed, %d failed, %d cancelled, %d pending, "
        "%d interrupted%s",
        how,
        report.completed,
        report.failed,
        report.cancelled,
        report.pending,
        report.interrupted,
        lost_note,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobsim serve",
        description="Run the HTTP job service: FastAPI + uvicorn in front of a worker pool. "
        "Options override the environment (PORT, WORKER_COUNT, JOB_QUEUE_CAPACITY, HOST, "
        "JOBSIM_STORE, JOBSIM_SHUTDOWN_GRACE, JOBSIM_JOB_DURATION).",
    )
    p.add_argument("--host", help="interface to bind (HOST, default 127.0.0.1)")
    p.add_argument("--port", help="TCP port, 0 for a free one (PORT, default 8080)")
    p.add_argument("--workers", help="workers in the pool (WORKER_COUNT, default 10)")
    p.add_argument("--capacity", help="channel slots (JOB_QUEUE_CAPACITY, default 100)")
    p.add_argument("--store", help="store URL (JOBSIM_STORE, default memory://)")
    p.add_argument(
        "--admission-wait",
        type=float,
        default=0.5,
        help="seconds POST /jobs waits for room before answering 503 (default 0.5)",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobsim serve [options]``; returns the exit code (2: bad configuration)."""
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    for flag, name in [
        ("host", "HOST"),
        ("port", "PORT"),
        ("workers", "WORKER_COUNT"),
        ("capacity", "JOB_QUEUE_CAPACITY"),
        ("store", "JOBSIM_STORE"),
    ]:
        value = getattr(args, flag)
        if value is not None:
            env[name] = value
    try:
        config = Config.from_env(env)
        if not (args.admission_wait >= 0 and math.isfinite(args.admission_wait)):
            raise ConfigError("--admission-wait", str(args.admission_wait), "expected >= 0")
    except ConfigError as exc:
        print(f"jobsim serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = anyio.run(
            lambda: serve(config, admission_wait=args.admission_wait, access_log=args.access_log),
            backend="asyncio",
        )
    except ConfigError as exc:
        print(f"jobsim serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"jobsim serve: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result.exit_code
