"""The HTTP API of the job service: a FastAPI app over a running :class:`WorkerPool` and store.

``create_app(pool, store, config)`` builds the app; :mod:`jobsim.http.server` runs it with
uvicorn in the same task group as the pool. The app never starts or stops the pool: whoever
owns the pool decides the shutdown order.

**Backpressure without half-accepted jobs.** ``POST /jobs`` first *reserves* a slot in the
pool's bounded channel (:class:`Admission`), waiting at most ``admission_wait`` seconds; only
then does it store and deliver the job. A reservation guarantees the delivery cannot block, so
the submit is shielded from cancellation and a ``201`` always means "stored and queued". A
``503`` (with ``Retry-After``) means the job was never stored: nothing runs, no id exists, the
client may send it again later.

**Errors.** Every error, from a bad body to an unknown route, answers with a JSON
:class:`ErrorBody` whose ``error`` says what was wrong and what is allowed; never a 500 for
anything a client can send.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobsim.config import Config
from jobsim.domain import Job, JobNotFound, JobStatus, PoolClosed
from jobsim.events import TraceEvent
from jobsim.handlers import MAX_DURATION
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

logger = logging.getLogger("jobsim.http")

#: Largest request body accepted (bytes); larger ones get 413.
MAX_BODY_BYTES = 64 * 1024
_CLOSING = "the service is shutting down; the job was not stored"
#: Seconds a client is told to wait after a 503.
RETRY_AFTER_S = 1


# -- request and response bodies --------------------------------------------------------------


class JobPayload(BaseModel):
    """Arguments for the handler: any JSON object. The built-in handler reads ``duration``."""

    model_config = ConfigDict(extra="allow")

    duration: float | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION,
        strict=True,
        description="Seconds the built-in handler sleeps (default: JOBSIM_JOB_DURATION).",
    )

    @model_validator(mode="after")
    def _plain_json(self) -> JobPayload:
        # json.loads accepts NaN and Infinity, which no JSON response can carry back.
        try:
            json.dumps(self.model_dump(), allow_nan=False)
        except ValueError:
            raise ValueError("payload must be plain JSON: no NaN or Infinity") from None
        return self


class JobCreate(BaseModel):
    """Body of ``POST /jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "email", "payload": {"duration": 0.5}}]},
    )

    type: str = Field(min_length=1, max_length=200, description="What kind of work this is.")
    payload: JobPayload = Field(default_factory=JobPayload, description="A JSON object.")


class JobOut(BaseModel):
    """A job as the store holds it. Timestamps are seconds since the epoch."""

    id: str
    type: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    timeout: float | None
    worker_id: str | None
    created: float | None
    started: float | None
    finished: float | None
    result: Any = None
    error: str | None
    lease_expires: float | None


class JobList(BaseModel):
    """A page of jobs in creation order."""

    jobs: list[JobOut]
    limit: int
    offset: int


class Health(BaseModel):
    """Liveness and load."""

    status: str = Field(description="The pool's state: running, closing or closed.")
    workers: int = Field(description="Workers the pool aims for (its current size).")
    live_workers: int = Field(description="Worker tasks running now (surplus ones included).")
    busy: int = Field(description="Workers running a job now.")
    queue_depth: int = Field(description="Job ids waiting in the channel.")
    capacity: int = Field(description="Slots in the channel.")
    counts: dict[str, int] = Field(description="Jobs in the store by status.")
    totals: dict[str, int] = Field(
        description="What this pool did since it started: completed, failed, retried, ..."
    )


class ErrorBody(BaseModel):
    """Every error response: what was wrong, and per-field details for invalid input."""

    error: str
    details: list[dict[str, Any]] | None = None


def _error(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers or None)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "The body is not valid JSON.",
        404: "No such job.",
        409: "The job has already finished.",
        413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
        415: "The body is not sent as application/json.",
        422: "The request does not match the schema; `details` names each field.",
        503: "The queue is full or the service is stopping; the job was NOT stored. "
        "Retry after `Retry-After` seconds.",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


# -- metrics and admission --------------------------------------------------------------------


_JOB_ENDS = frozenset(
    {TraceEvent.COMPLETED, TraceEvent.FAILED, TraceEvent.CANCELLED, TraceEvent.RELEASED}
)
_TIMED_ENDS = frozenset({TraceEvent.COMPLETED, TraceEvent.FAILED})


class Instruments:
    """Per-app Prometheus metrics, fed by the pool's tracer.

    Pass :meth:`trace` as ``WorkerPool(tracer=...)`` and the same object to
    :func:`create_app`: it then times every job (queued -> finished) and wakes POSTs waiting
    for room the moment a worker takes a job off the channel.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "jobsim_job_latency_seconds",
            "Seconds from queued to finished (completed or failed), wait included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.rejected = Counter(
            "jobsim_http_rejected",
            "POST /jobs answered 503, by reason (full: no room in time; closing: shutdown).",
            ["reason"],
            registry=self.registry,
        )
        self._queued: dict[str, float] = {}
        self._on_taken: Callable[[], None] | None = None

    def trace(self, event: TraceEvent, time: float, job_id: str, worker_id: str | None) -> None:
        """A :data:`jobsim.events.Tracer`."""
        if event is TraceEvent.QUEUED:
            self._queued[job_id] = time
        elif event is TraceEvent.TAKEN:
            if self._on_taken is not None:
                self._on_taken()
        elif event in _JOB_ENDS:
            queued = self._queued.pop(job_id, None)
            if queued is not None and event in _TIMED_ENDS:
                self.latency.observe(max(0.0, time - queued))


class _PoolCollector(Collector):
    """Reads the pool's gauges at scrape time (and the store's counts fetched just before)."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.counts: dict[JobStatus, int] = dict.fromkeys(JobStatus, 0)

    def collect(self) -> Iterable[Metric]:
        pool = self.pool
        jobs = GaugeMetricFamily("jobsim_jobs", "Jobs in the store by status.", labels=["status"])
        for status, n in self.counts.items():
            jobs.add_metric([status.value], n)
        yield jobs
        yield GaugeMetricFamily(
            "jobsim_queue_depth", "Job ids waiting in the channel.", value=pool.queue_depth
        )
        yield GaugeMetricFamily(
            "jobsim_queue_capacity", "Slots in the channel.", value=pool.capacity
        )
        yield GaugeMetricFamily("jobsim_workers", "Workers in the pool.", value=pool.workers)
        yield GaugeMetricFamily("jobsim_workers_busy", "Workers running a job.", value=pool.busy)
        processed = CounterMetricFamily(
            "jobsim_worker_processed", "Jobs each worker has finished.", labels=["worker"]
        )
        for worker_id, n in pool.processed.items():
            processed.add_metric([worker_id], n)
        yield processed


class Admission:
    """Reserves slots in the pool's channel so a submit never blocks.

    Invariant (when this app is the pool's only producer): ``queue_depth + reserved <=
    capacity``, so a reserved submit's ``send_nowait`` always finds room. Waiters queue FIFO
    on a lock; only the head waits for room, woken by the tracer's ``taken`` event (or every
    ``poll`` seconds if the pool has no tracer wired to us).
    """

    def __init__(self, pool: WorkerPool, wait: float, poll: float = 0.01) -> None:
        self.pool = pool
        self.wait = wait
        self.poll = poll
        self.reserved = 0
        self._waiters = 0
        self._lock: anyio.Lock | None = None
        self._room: anyio.Event | None = None

    @property
    def waiting(self) -> int:
        """POSTs waiting for room now."""
        return self._waiters

    def _has_room(self) -> bool:
        return self.pool.queue_depth + self.reserved < self.pool.capacity

    def wake(self) -> None:
        """A slot may have freed up (a worker took a job)."""
        if self._room is not None:
            self._room.set()

    async def acquire(self) -> bool:
        """Reserve a slot within ``wait`` seconds; False if none freed up in time."""
        if self._waiters == 0 and self._has_room():
            self.reserved += 1
            return True
        if self._lock is None:
            self._lock = anyio.Lock()
        got = False
        self._waiters += 1
        try:
            with anyio.move_on_after(self.wait):
                async with self._lock:
                    while not self._has_room():
                        self._room = anyio.Event()
                        with anyio.move_on_after(self.poll):
                            await self._room.wait()
                        self._room = None
                    self.reserved += 1
                    got = True  # kept even if a cancellation lands while the lock is released
        finally:
            self._waiters -= 1
        return got

    def release(self) -> None:
        """The reserved slot has been used (or given up)."""
        self.reserved -= 1


# -- body size limit --------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes, before anything parses them.

    A declared ``Content-Length`` is checked up front; a body without one (chunked) is
    buffered up to the limit and replayed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = _error(
            413, f"request body is larger than the limit of {self.limit} bytes (64 KiB)"
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _error(400, "Content-Length must be an integer")(scope, receive, send)
                return
            if size > self.limit:
                await too_big(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.limit:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay: Iterator[Message] = iter(messages)

        async def replaying() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replaying, send)


# -- error handlers ---------------------------------------------------------------------------


def _where(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = [
        {"field": _where(e.get("loc", ())), "problem": str(e.get("msg", "")), "type": e["type"]}
        for e in errors
    ]
    content_type = request.headers.get("content-type")
    if content_type is not None and request.method in ("POST", "PUT", "PATCH"):
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return _error(
                415,
                f"send the body as JSON with 'Content-Type: application/json' "
                f"(got {content_type!r})",
                details,
            )
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        reason = bad_json[0].get("ctx", {}).get("error", "invalid JSON")
        return _error(400, f"request body is not valid JSON: {reason}", details)
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    return _error(422, f"invalid request: {summary}", details)


def _methods_for(request: Request) -> set[str]:
    """Every method some route accepts on this request's path."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    for route in request.app.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path!r}; see /docs for the API"
    elif exc.status_code == 405:
        # Starlette's Allow names the first route that matched the path only; list them all.
        allowed = sorted(_methods_for(request))
        message = (
            f"method {request.method} is not allowed on {request.url.path!r}; "
            f"allowed: {', '.join(allowed)}"
        )
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return _error(405, message, headers=headers)
    elif exc.status_code == 400 and "parsing the body" in message:
        message = "request body could not be parsed as JSON (too deeply nested?)"
    return _error(exc.status_code, message, headers=dict(exc.headers or {}))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error(500, f"internal error: {type(exc).__name__}; see the server log")


# -- the app ----------------------------------------------------------------------------------


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
        config: the service settings (shown in ``/health``'s sibling fields; optional).
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
    collector = _PoolCollector(pool)
    instruments.registry.register(collector)
    retry_after = {"Retry-After": str(RETRY_AFTER_S)}

    app = FastAPI(
        title="jobsim job service",
        version="0.1.0",
        description="Submit jobs to a worker pool, watch them run. "
        "Errors are JSON bodies with an `error` message.",
    )
    app.add_middleware(BodyLimit, limit=max_body)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(Exception, _unexpected)
    app.state.pool, app.state.store, app.state.config = pool, store, config
    app.state.instruments, app.state.admission = instruments, admission

    job_id_param = Path(description="The job's id, as returned by POST /jobs.")

    @app.get("/health", response_model=Health, summary="Liveness, load and job counts")
    async def health() -> dict[str, Any]:
        counts = await store.counts()
        return pool.health() | {"counts": {status.value: n for status, n in counts.items()}}

    @app.post(
        "/jobs",
        status_code=201,
        response_model=JobOut,
        summary="Submit a job",
        responses={
            201: {
                "description": "Stored and queued; it will run. `Location` points to it.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **_responses(400, 413, 415, 422, 503),
        },
    )
    async def create_job(spec: JobCreate) -> Response:
        job = Job(type=spec.type, payload=spec.payload.model_dump(exclude_unset=True))
        if pool.state != "running":
            instruments.rejected.labels("closing").inc()
            return _error(503, _CLOSING, headers=retry_after)
        if not await admission.acquire():
            instruments.rejected.labels("full").inc()
            return _error(
                503,
                f"the queue is full ({pool.capacity} jobs waiting); the job was not stored, "
                f"retry after {RETRY_AFTER_S} s",
                headers=retry_after,
            )
        try:
            # Shielded: with a reserved slot this cannot block, and a client hanging up must
            # not leave the job stored but undelivered.
            with anyio.CancelScope(shield=True):
                await pool.submit(job)
        except PoolClosed:
            instruments.rejected.labels("closing").inc()
            return _error(503, _CLOSING, headers=retry_after)
        finally:
            admission.release()
        return JSONResponse(job.to_dict(), status_code=201, headers={"Location": f"/jobs/{job.id}"})

    @app.get("/jobs", response_model=JobList, summary="List jobs", responses=_responses(422))
    async def list_jobs(
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Jobs to skip.")] = 0,
    ) -> Response:
        jobs = await store.list(status=status, limit=limit, offset=offset)
        return JSONResponse({"jobs": [j.to_dict() for j in jobs], "limit": limit, "offset": offset})

    @app.get(
        "/jobs/{job_id}", response_model=JobOut, summary="One job", responses=_responses(404, 422)
    )
    async def get_job(job_id: str = job_id_param) -> Response:
        return JSONResponse((await store.get(job_id)).to_dict())

    @app.delete(
        "/jobs/{job_id}",
        response_model=JobOut,
        summary="Cancel a job",
        description="Cancels a pending job, or stops a running one (it ends `cancelled`). "
        "409 when it has already finished.",
        responses=_responses(404, 409, 422),
    )
    async def cancel_job(job_id: str = job_id_param) -> Response:
        job = await store.get(job_id)
        if job.is_final or not await pool.cancel(job_id):
            job = await store.get(job_id)
            return _error(
                409,
                f"job {job_id!r} is already {job.status.value}; only pending or running jobs "
                "can be cancelled",
            )
        return JSONResponse((await store.get(job_id)).to_dict())

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics() -> Response:
        collector.counts = await store.counts()
        return Response(generate_latest(instruments.registry), media_type=CONTENT_TYPE_LATEST)

    return app
