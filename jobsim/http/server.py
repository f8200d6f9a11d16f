"""The job service: uvicorn and the worker pool in one task group, our shutdown order.

(``python -m jobsim serve`` is :mod:`.cli`.)

uvicorn's own signal handlers are switched off (:class:`_Server`); this module listens for
SIGINT/SIGTERM itself so the original Go service's shutdown order holds:

1. first signal: the server stops accepting and finishes the requests in flight
   (``server.should_exit``) -- every POST answered 201 has its job stored *and* queued;
2. ``pool.shutdown(drain=True, timeout=JOBSIM_SHUTDOWN_GRACE)``: intake closes, the channel
   closes, the workers run what is queued, every worker task is joined;
3. one log line sums up (completed, failed, pending, interrupted) and the process exits 0.

A second signal forces the exit: the drain is cancelled, running jobs go back to pending, exit
code 1. With the memory store, acknowledged jobs still pending or running at the end are lost
with the process: one ERROR line says how many, and the exit code is 3 (1 if forced).
uvicorn needs asyncio, so :func:`serve` runs on the asyncio backend only.

While it runs, the service deletes finished jobs beyond ``JOBSIM_KEEP_FINISHED`` and older
than ``JOBSIM_KEEP_FINISHED_FOR`` (:mod:`.retention`), and limits connections
(:mod:`.connections`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import signal
import socket
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import anyio
import sniffio
import uvicorn
from fastapi import FastAPI

import jobsim.stores
from jobsim.config import Config, ConfigError
from jobsim.domain import JobStatus
from jobsim.handlers import sleep_handler
from jobsim.http.app import Instruments, create_app
from jobsim.http.connections import HARD_LIMIT, guarded_protocol
from jobsim.http.retention import keep_finished
from jobsim.pool import Handler, Scaler, ShutdownReport, WorkerPool
from jobsim.pool.policies import DispatchSpec
from jobsim.stores.base import JobStore, LeasingJobStore
from jobsim.stores.masking import mask_url, scrub
from jobsim.stores.memory import InMemoryJobStore

__all__ = ["ServeResult", "Service", "builtin_handler", "open_store", "serve"]

logger = logging.getLogger("jobsim.http")


#: The service's stand-in for real work (the same handler as ``python -m jobsim worker``).
builtin_handler = sleep_handler


async def open_store(url: str) -> JobStore:
    """The store behind ``JOBSIM_STORE``; a URL it cannot use is a :class:`ConfigError`."""
    try:
        return await jobsim.stores.open_store(url)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        raise ConfigError("JOBSIM_STORE", mask_url(url), scrub(str(exc), url)) from None


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
    if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
        logger.warning(
            "HOST=%s: listening beyond this machine, and the service has NO authentication: "
            "anyone who can reach %s:%d can submit and cancel jobs. Put it behind an "
            "authenticating proxy or bind 127.0.0.1.",
            host,
            address[0],
            port,
        )
    return sock


def _check_file_limit(max_connections: int) -> None:
    """Warn when the open-files limit is below what ``max_connections`` may need."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Connections over the limit are kept (answered 503) up to HARD_LIMIT times the limit.
    if soft != resource.RLIM_INFINITY and soft < HARD_LIMIT * max_connections + 64:
        logger.warning(
            "the open-files limit (ulimit -n %d) is low for JOBSIM_MAX_CONNECTIONS=%d; "
            "raise it or lower the connection limit",
            soft,
            max_connections,
        )


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
    dropped: int = 0
    """Acknowledged jobs lost at exit (memory store: pending or running when it stopped)."""

    @property
    def exit_code(self) -> int:
        """0: every acknowledged job finished or is kept; 1: forced exit; 3: jobs dropped."""
        return 1 if self.forced else (3 if self.dropped else 0)


async def serve(
    config: Config,
    store: JobStore | None = None,
    ready: Callable[[Service], Any] | None = None,
    *,
    admission_wait: float = 0.5,
    access_log: bool = False,
    handle_signals: bool = True,
    lease: float = 30.0,
    handler: Handler | None = None,
    dispatch: DispatchSpec = "fifo",
    scaler: Scaler | None = None,
) -> ServeResult:
    """Run the job service until SIGINT/SIGTERM (or ``Service.stop()``), then shut down in
    the original Go service's order. Returns the pool's report.

    Args:
        config: settings (see :meth:`Config.from_env`); ``port=0`` picks a free port.
        store: the store to use; default: opened from ``config.store_url`` (and closed at exit).
        ready: called with a :class:`Service` once connections are accepted.
        admission_wait: seconds ``POST /jobs`` waits for room before answering 503.
        access_log: log every request (uvicorn's access log).
        handle_signals: listen for SIGINT/SIGTERM (main thread only).
        lease: with a store shared between processes (SQLite, PostgreSQL) the pool runs in
            pull mode, like ``jobsim worker``: it claims with leases of this many seconds, so
            it runs jobs already pending at start and recovers jobs whose holder died.
        handler: what runs a job (default: sleep ``payload.duration``).
        scaler: resizes the pool while it serves (``--autoscale MIN:MAX``: an
            :class:`~jobsim.Autoscaler`); ``/health`` and ``/metrics`` show the count.
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
        handler if handler is not None else builtin_handler(config.job_duration),
        workers=config.worker_count,
        capacity=config.job_queue_capacity,
        clock=time.time,  # epoch timestamps in the API
        tracer=instruments.trace,
        # A persistent store is shared: claim with leases (pull mode), as `jobsim worker`
        # does, so jobs pending at start run and a dead holder's jobs come back.
        lease=lease if isinstance(store, LeasingJobStore) else None,
        poll_interval=1.0,
        dispatch=dispatch,
        scaler=scaler,
    )
    app = create_app(pool, store, config, instruments=instruments, admission_wait=admission_wait)
    _check_file_limit(config.max_connections)
    server = _Server(
        uvicorn.Config(
            app,
            http=guarded_protocol(
                config.max_connections, config.idle_timeout, config.request_timeout
            ),
            timeout_keep_alive=config.idle_timeout,  # type: ignore[arg-type]  # float is fine
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
            tg.start_soon(
                keep_finished,
                store,
                config.keep_finished,
                config.keep_finished_for,
                name="retention",
            )
            with force_scope:
                async with pool:
                    tg.start_soon(run_server, name="jobsim uvicorn")
                    # uvicorn offers no "started" event: poll its flag briefly.
                    while not server.started and not server_done.is_set():  # noqa: ASYNC110
                        await anyio.sleep(0.005)
                    if not server.started:
                        raise RuntimeError(f"the HTTP server did not start on {url}")
                    logger.info(
                        "listening on %s: %d workers, queue capacity %d, store %s, loop %s",
                        url,
                        pool.workers,
                        pool.capacity,
                        mask_url(config.store_url),
                        type(asyncio.get_running_loop()).__module__.partition(".")[0],
                    )
                    if ready is not None:
                        ready(Service(url, port, app, pool, store, stop.set))
                    await stop.wait()
                    server.should_exit = True  # 1. stop accepting, finish in-flight requests
                    await server_done.wait()
                    logger.info("HTTP server stopped; draining the pool")
                    # 2.-5. intake, channel, workers, join
                    grace = config.shutdown_grace
                    if pool.lease is not None:  # pull mode: the store is the channel
                        grace -= await _drain_store(store, grace)
                    report = await pool.shutdown(drain=True, timeout=max(0.0, grace))
            with anyio.move_on_after(2):
                await server_done.wait()
            tg.cancel_scope.cancel()  # the signal watcher and the retention
        if report is None:  # forced: the pool stopped at once, running jobs released
            counts = await store.counts()
            report = pool.stats.report(
                pending=counts[JobStatus.PENDING], drained=False, timed_out=True, elapsed=0.0
            )
        dropped = 0
        if isinstance(store, InMemoryJobStore):  # what is left dies with the process
            counts = await store.counts()
            dropped = counts[JobStatus.PENDING] + counts[JobStatus.PROCESSING]
    finally:
        sock.close()
        if own_store:
            with anyio.CancelScope(shield=True):
                await store.close()
    _log_summary(report, forced, dropped)
    return ServeResult(report=report, forced=forced, url=url, dropped=dropped)


async def _drain_store(store: JobStore, grace: float) -> float:
    """Pull mode's drain: let the workers claim until no job is pending (or ``grace`` runs
    out), as push mode runs what its channel holds. Returns the seconds it took."""
    started = time.monotonic()
    with anyio.move_on_after(grace):
        while (await store.counts())[JobStatus.PENDING]:  # noqa: ASYNC110  # other processes'
            await anyio.sleep(0.1)
    return time.monotonic() - started


def _log_summary(report: ShutdownReport, forced: bool, dropped: int) -> None:
    if forced:
        how = "forced exit"
    elif report.timed_out:
        how = "grace period ran out"
    elif report.pending:  # kept in a persistent store, or dropped (memory): never "drained"
        how = "stopped with jobs pending"
    else:
        how = "drained"
    lost_note = " (memory store: pending jobs are discarded with the process)" if dropped else ""
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
    if dropped:
        logger.error(
            "DROPPED %d ACKNOWLEDGED JOBS: the memory store loses the jobs still pending or "
            "running at exit (raise JOBSIM_SHUTDOWN_GRACE, or use a persistent JOBSIM_STORE)",
            dropped,
        )
