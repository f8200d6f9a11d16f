"""``python -m jobsim worker``: a worker pool that pulls jobs from a shared store.

Start as many as you like, on one machine or many, against one SQLite file (one host) or one
PostgreSQL database (any number of hosts)::

    python -m jobsim worker --store postgresql://jobs@db/jobs --workers 10 --lease 30

Each process runs a :class:`~jobsim.WorkerPool` in pull mode: its workers claim the oldest
pending job with a lease, renew the lease while the job runs, and return jobs of crashed
processes (expired leases) to pending. SIGTERM or SIGINT stops it gracefully: no new claims,
running jobs finish (or, after ``--grace`` seconds, go back to pending), then one summary line
and exit status 0. A second signal forces the exit (running jobs go back to pending; exit 1).

The built-in handler sleeps ``payload["duration"]`` seconds (default ``JOBSIM_JOB_DURATION``)
and returns ``{"slept": seconds}``; ``--handler module:function`` runs your own
``async def handler(job)`` instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

import anyio

from jobsim.config import Config, ConfigError
from jobsim.domain import JobsimError
from jobsim.handlers import sleep_handler
from jobsim.pool import Autoscaler, Handler, Scaler, ShutdownReport, WorkerPool
from jobsim.retry import RetryPolicy
from jobsim.stores import LeasingJobStore, StoreUnavailable, mask_url, open_store

__all__ = ["main", "run_worker", "sleep_handler"]

logger = logging.getLogger("jobsim.worker")


def load_handler(spec: str) -> Handler:
    """Import ``module:function`` (e.g. ``myapp.jobs:handle``) as the handler."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--handler must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--handler {spec!r}: cannot import {module_name!r}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ValueError(f"--handler {spec!r}: {module_name} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return,unused-ignore]


async def run_worker(
    url: str,
    handler: Handler,
    *,
    workers: int,
    lease: float,
    name: str,
    grace: float,
    poll_interval: float = 1.0,
    retry: RetryPolicy | None = None,
    outage_limit: float | None = None,
    ready: Any = None,
    scaler: Scaler | None = None,
) -> ShutdownReport:
    """Run a pull-mode pool on the store at ``url`` until SIGTERM/SIGINT; returns its report.

    ``ready`` (optional callable) is called once the pool runs (tests use it).
    """
    store = await _open_patiently(url, outage_limit)
    try:
        if not isinstance(store, LeasingJobStore):
            raise JobsimError(
                f"store {mask_url(url)!r} is not shared between processes; a worker needs "
                "sqlite:///path or postgresql://... (memory:// lives in one process only)"
            )
        pool = WorkerPool(
            store,
            handler,
            workers=workers,
            name=name,
            lease=lease,
            poll_interval=poll_interval,
            retry=retry,
            clock=time.time,  # wall-clock timestamps: comparable across processes and hosts
            scaler=scaler,
        )
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with pool:
                logger.info(
                    "%s: %d workers pulling from %s (lease %gs)",
                    name,
                    workers,
                    mask_url(url),
                    lease,
                )
                if ready is not None:
                    ready()
                async for signum in signals:
                    logger.info("%s: %s received, stopping", name, signal.Signals(signum).name)
                    break
                return await _shutdown(pool, signals, name, grace)
    finally:
        await store.close()


async def _open_patiently(url: str, outage_limit: float | None) -> LeasingJobStore | Any:
    """Open the store, riding out an outage at start as a running worker would: retry with
    backoff (logged once) until ``outage_limit`` seconds (default 60) have passed."""
    limit = 60.0 if outage_limit is None else outage_limit
    deadline = time.monotonic() + limit
    delay = 0.1
    while True:
        try:
            return await open_store(url, outage_limit=outage_limit)
        except StoreUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise
            if delay == 0.1:
                logger.warning("%s; retrying for up to %g s", exc, limit)
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)


class ForcedExit(JobsimError):
    """A second SIGTERM/SIGINT cut the graceful shutdown short."""


async def _shutdown(pool: WorkerPool, signals: Any, name: str, grace: float) -> ShutdownReport:
    """Shut the pool down gracefully; a second signal forces the exit (running jobs are
    cancelled and go back to pending, as at the end of the grace period)."""
    forced: list[str] = []
    async with anyio.create_task_group() as tg:

        async def second_signal() -> None:
            async for signum in signals:
                forced.append(signal.Signals(signum).name)
                logger.warning(
                    "%s: %s again: forcing exit, running jobs go back to pending",
                    name,
                    forced[0],
                )
                graceful.cancel()
                return

        graceful = anyio.CancelScope()
        tg.start_soon(second_signal)
        with graceful:
            report = await pool.shutdown(timeout=grace)
        tg.cancel_scope.cancel()
    if forced:
        raise ForcedExit(f"{forced[0]} received twice: forced exit")
    return report


def _parser(config: Config) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobsim worker",
        description="Run a worker pool that pulls jobs from a shared store (SQLite or "
        "PostgreSQL). Start any number of them; SIGTERM/SIGINT stops one gracefully.",
    )
    parser.add_argument(
        "--store",
        default=config.store_url,
        help="store URL: sqlite:///path or postgresql://user@host/db "
        "(default: JOBSIM_STORE, %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=config.worker_count,
        help="workers in this process (default: WORKER_COUNT, %(default)s)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="seconds a claim holds before another process may run the job again; renewed "
        "every lease/3 while the job runs (default %(default)s)",
    )
    parser.add_argument(
        "--name",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="prefix of worker ids, unique per process (default: host-pid)",
    )
    parser.add_argument(
        "--handler",
        default=None,
        help="module:function of an async handler (default: sleep payload['duration'] or "
        "JOBSIM_JOB_DURATION seconds)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=config.shutdown_grace,
        help="seconds running jobs get to finish on SIGTERM before they go back to pending "
        "(default: JOBSIM_SHUTDOWN_GRACE, %(default)s)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="longest an idle worker waits before looking for jobs again (default %(default)s)",
    )
    parser.add_argument(
        "--outage-limit",
        type=float,
        default=60.0,
        help="seconds to ride out a database outage (statements retried with backoff, "
        "running jobs keep running) before the process gives up with exit status 1 "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--retry-base",
        type=float,
        default=1.0,
        help="seconds before the first retry of a failed job with attempts left; doubles "
        "with each attempt (default %(default)s)",
    )
    parser.add_argument(
        "--no-jitter",
        action="store_true",
        help="wait exactly the backoff before a retry (default: a uniform draw up to it)",
    )
    parser.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        help="let an autoscaler keep between MIN and MAX workers in this process, one per "
        "running job (starts from --workers; default: a fixed pool)",
    )
    return parser


def _one_line(exc: BaseException) -> str:
    """The first jobsim error inside ``exc`` (task groups wrap what a worker raised)."""
    if isinstance(exc, BaseExceptionGroup):
        mine = exc.subgroup(lambda e: isinstance(e, JobsimError))
        if mine is None:
            raise exc
        while isinstance(mine, BaseExceptionGroup):
            mine = mine.exceptions[0]
        exc = mine
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jobsim worker``; returns the exit status."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"jobsim worker: {exc}", file=sys.stderr)
        return 2
    parser = _parser(config)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if not args.lease > 0:
        parser.error(f"--lease must be > 0 seconds, got {args.lease}")
    if not args.grace >= 0:
        parser.error(f"--grace must be >= 0 seconds, got {args.grace}")
    if not args.poll > 0:
        parser.error(f"--poll must be > 0 seconds, got {args.poll}")
    if not args.outage_limit >= 0:
        parser.error(f"--outage-limit must be >= 0 seconds, got {args.outage_limit}")
    try:
        retry = RetryPolicy(base=args.retry_base, jitter=not args.no_jitter)
    except ValueError as exc:
        parser.error(f"--retry-base: {exc}")
    scaler = None
    if args.autoscale is not None:
        try:
            scaler = Autoscaler.parse(args.autoscale)
        except ValueError as exc:
            parser.error(f"argument --autoscale: {exc}")
    try:
        handler = load_handler(args.handler) if args.handler else sleep_handler(config.job_duration)
    except ValueError as exc:
        parser.error(str(exc))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = time.perf_counter()
    try:
        report = anyio.run(
            lambda: run_worker(
                args.store,
                handler,
                workers=args.workers,
                lease=args.lease,
                name=args.name,
                grace=args.grace,
                poll_interval=args.poll,
                retry=retry,
                outage_limit=args.outage_limit,
                scaler=scaler,
            )
        )
    except (JobsimError, BaseExceptionGroup) as exc:
        print(f"jobsim worker {args.name}: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 1
    print(
        f"jobsim worker {args.name}: {report.completed} completed, {report.failed} failed, "
        f"{report.interrupted} interrupted, {report.pending} pending in the store; "
        f"ran {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return 0
