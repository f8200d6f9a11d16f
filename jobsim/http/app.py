"""The HTTP API of the job service: a FastAPI app over a running :class:`WorkerPool` and store.

``create_app(pool, store, config)`` builds the app from its parts: the bodies
(:mod:`.models`), JSON errors (:mod:`.errors`), the body limit (:mod:`.limits`), backpressure
(:mod:`.admission`), metrics (:mod:`.metrics`), the endpoints (:mod:`.routes`) and the live
dashboard (:mod:`.dashboard`).
:mod:`jobsim.http.server` runs it with uvicorn in the same task group as the pool. The app
never starts or stops the pool: whoever owns the pool decides the shutdown order.
"""

from __future__ import annotations

import math

from fastapi import FastAPI

from jobsim.config import Config
from jobsim.http.admission import Admission
from jobsim.http.dashboard import dashboard_routes
from jobsim.http.errors import install_error_handlers
from jobsim.http.limits import BodyLimit
from jobsim.http.metrics import Instruments, PoolCollector
from jobsim.http.models import (
    MAX_BODY_BYTES,
    MAX_DURATION,
    ErrorBody,
    Health,
    JobCreate,
    JobList,
    JobOut,
)
from jobsim.http.routes import api_routes
from jobsim.pool import WorkerPool
from jobsim.stores.base import JobStore

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DURATION",
    "Admission",
    "ErrorBody",
    "Health",
    "Instruments",
    "JobCreate",
    "JobList",
    "JobOut",
    "create_app",
]


def create_app(
    pool: WorkerPool,
    store: JobStore,
    config: Config | None = None,
    *,
    instruments: Instruments | None = None,
    admission_wait: float = 0.5,
    max_body: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The job service's FastAPI app over a running ``pool`` and its ``store``.

    Args:
        pool: a started :class:`WorkerPool` (its owner starts and stops it).
        store: the pool's store (read for GET endpoints).
        config: the service settings (kept on ``app.state``; optional).
        instruments: metrics fed by the pool's tracer; pass the one whose ``trace`` the pool
            got, or leave None for metrics without the latency histogram.
        admission_wait: seconds ``POST /jobs`` waits for room before answering 503.
        max_body: largest request body in bytes (413 above).
    """
    if not (admission_wait >= 0 and math.isfinite(admission_wait)):
        raise ValueError(f"admission_wait must be a finite number >= 0, got {admission_wait!r}")
    instruments = instruments if instruments is not None else Instruments()
    admission = Admission(pool, admission_wait)
    instruments._on_taken = admission.wake
    collector = PoolCollector(pool)
    instruments.registry.register(collector)

    app = FastAPI(
        title="jobsim job service",
        version="0.1.0",
        description="Submit jobs to a worker pool, watch them run. "
        "Errors are JSON bodies with an `error` message.",
    )
    app.add_middleware(BodyLimit, limit=max_body)
    install_error_handlers(app)
    # On the app's own router: an included one is matched through one more layer per request.
    api_routes(pool, store, admission, instruments, collector, app.router)
    dashboard_routes(pool, store, instruments.throughput, app.router)
    app.state.pool, app.state.store, app.state.config = pool, store, config
    app.state.instruments, app.state.admission = instruments, admission
    return app
