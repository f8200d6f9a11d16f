"""``python -m jobsim serve [options]``: flags over the environment, then :func:`serve`.

Exit codes: 0 stopped cleanly, 1 forced exit (or cannot listen), 2 bad configuration, 3
acknowledged jobs were dropped (memory store).
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import sys
from collections.abc import Sequence

import anyio

from jobsim.clock import backend_options
from jobsim.config import Config, ConfigError
from jobsim.http.server import serve
from jobsim.pool import Autoscaler, Prefetch
from jobsim.pool.policies import parse_dispatch

__all__ = ["main"]

#: The service's young-generation threshold (Python's default: 700 allocations). A POST that
#: waits for its store's commit keeps its request alive across collections, so at 700 about
#: one job in seven triggered one and many of the requests then in flight were promoted,
#: only to die in the older generations and bring on full collections of the whole heap.
YOUNG_COLLECTION_EVERY = 10_000


def _settle_heap() -> None:
    """Once the service listens: collect, then freeze what is left of its start-up (modules,
    the app and its routes, pydantic models; never garbage) out of every later collection,
    and collect the young generation every :data:`YOUNG_COLLECTION_EVERY` allocations. The
    command owns its process; :func:`~jobsim.http.serve` called from your own program leaves
    its garbage collector alone."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
    logging.getLogger("jobsim.http").debug(
        "garbage collector: %d start-up objects frozen, young generation collected every %d "
        "allocations",
        gc.get_freeze_count(),
        YOUNG_COLLECTION_EVERY,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobsim serve",
        description="Run the HTTP job service: FastAPI + uvicorn in front of a worker pool. "
        "Options override the environment (PORT, WORKER_COUNT, JOB_QUEUE_CAPACITY, HOST, "
        "JOBSIM_STORE, JOBSIM_SHUTDOWN_GRACE, JOBSIM_JOB_DURATION, and the JOBSIM_ names "
        "below). Exit codes: 0 stopped cleanly, 1 forced exit, 2 bad configuration, "
        "3 acknowledged jobs were dropped (memory store).",
    )
    p.add_argument("--host", help="interface to bind (HOST, default 127.0.0.1)")
    p.add_argument("--port", help="TCP port, 0 for a free one (PORT, default 8080)")
    p.add_argument("--workers", help="workers in the pool (WORKER_COUNT, default 10)")
    p.add_argument("--capacity", help="channel slots (JOB_QUEUE_CAPACITY, default 100)")
    p.add_argument("--store", help="store URL (JOBSIM_STORE, default memory://)")
    p.add_argument(
        "--keep-finished",
        help="finished jobs kept, most recent first (JOBSIM_KEEP_FINISHED, default 10000)",
    )
    p.add_argument(
        "--keep-finished-for",
        help="seconds a finished job is kept (JOBSIM_KEEP_FINISHED_FOR, default 86400)",
    )
    p.add_argument(
        "--max-connections",
        help="connections served at once, 503 beyond (JOBSIM_MAX_CONNECTIONS, default 1000)",
    )
    p.add_argument(
        "--idle-timeout",
        help="seconds a connection may wait without a request (JOBSIM_IDLE_TIMEOUT, default 5)",
    )
    p.add_argument(
        "--request-timeout",
        help="seconds to send a whole request, 408 after (JOBSIM_REQUEST_TIMEOUT, default 30)",
    )
    p.add_argument(
        "--admission-wait",
        type=float,
        default=0.5,
        help="seconds POST /jobs waits for room before answering 503 (default 0.5)",
    )
    p.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="seconds a claim holds with a persistent store (pull mode, renewed while the job "
        "runs; default 30)",
    )
    p.add_argument(
        "--handler",
        help="module:function of an async handler (default: sleep payload.duration seconds)",
    )
    p.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the event loop uvicorn and the pool run on: asyncio's own, or uvloop "
        "(needs the uvloop extra: pip install 'jobsim[uvloop]'; default asyncio)",
    )
    p.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        help="let an autoscaler keep between MIN and MAX workers, one per job in the pool "
        "(starts from --workers; default: a fixed pool)",
    )
    p.add_argument(
        "--dispatch",
        default="fifo",
        help="who runs next: fifo (one shared channel), priority (highest Job.priority "
        "first), priority:AGING (a waiting job gains 1 priority per AGING seconds) or "
        "prefetch:K (K jobs buffered per worker; memory store only); default fifo",
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
        ("keep_finished", "JOBSIM_KEEP_FINISHED"),
        ("keep_finished_for", "JOBSIM_KEEP_FINISHED_FOR"),
        ("max_connections", "JOBSIM_MAX_CONNECTIONS"),
        ("idle_timeout", "JOBSIM_IDLE_TIMEOUT"),
        ("request_timeout", "JOBSIM_REQUEST_TIMEOUT"),
    ]:
        value = getattr(args, flag)
        if value is not None:
            env[name] = value
    try:
        config = Config.from_env(env)
        if not (args.admission_wait >= 0 and math.isfinite(args.admission_wait)):
            raise ConfigError("--admission-wait", str(args.admission_wait), "expected >= 0")
        if not (args.lease > 0 and math.isfinite(args.lease)):
            raise ConfigError("--lease", str(args.lease), "expected a number of seconds > 0")
        handler = None
        if args.handler:
            from jobsim.worker import load_handler

            try:
                handler = load_handler(args.handler)
            except ValueError as exc:
                raise ConfigError("--handler", args.handler, str(exc)) from None
        scaler = None
        if args.autoscale is not None:
            try:
                scaler = Autoscaler.parse(args.autoscale)
            except ValueError as exc:
                raise ConfigError("--autoscale", args.autoscale, str(exc)) from None
        options = backend_options("asyncio", "real", args.loop)
        try:
            dispatch = parse_dispatch(args.dispatch)
        except ValueError as exc:
            raise ConfigError("--dispatch", args.dispatch, str(exc)) from None
        if isinstance(dispatch, Prefetch) and not config.store_url.startswith("memory:"):
            raise ConfigError(
                "--dispatch",
                args.dispatch,
                "prefetch needs the memory store: a shared store is claimed from directly "
                "(pull mode, already highest priority first)",
            )
    except (ConfigError, ValueError) as exc:
        print(f"jobsim serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = anyio.run(
            lambda: serve(
                config,
                admission_wait=args.admission_wait,
                access_log=args.access_log,
                lease=args.lease,
                handler=handler,
                scaler=scaler,
                dispatch=dispatch,
                ready=lambda service: _settle_heap(),
            ),
            backend="asyncio",
            backend_options=options,
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
