"""The endpoints of the job service: health, jobs (submit, list, read, cancel) and metrics.

:func:`api_routes` builds them over one running pool, its store, the admission and the
metrics; :func:`~jobsim.http.app.create_app` mounts them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jobsim.domain import Job, JobNotFound, JobStatus, PoolClosed
from jobsim.http.admission import Admission
from jobsim.http.errors import error_response, responses
from jobsim.http.metrics import Instruments, PoolCollector
from jobsim.http.models import Health, JobCreate, JobList, JobOut
from jobsim.pool import WorkerPool
from jobsim.stores.base import JobStore, NonBlockingJobStore, outage_seconds

__all__ = ["LIST_BYTES", "RETRY_AFTER_S", "api_routes", "job_json"]

#: Seconds a client is told to wait after a 503.
RETRY_AFTER_S = 1
#: A page of ``GET /jobs`` stops before its jobs exceed this many bytes (at least one job).
LIST_BYTES = 1024 * 1024
_LIST_CHUNK = 100  # jobs read from the store at a time while filling a page
_CLOSING = "the service is shutting down; the job was not stored"
_JSON = "application/json"


def job_json(job: Job) -> bytes:
    """``job`` as a JSON body. A job stored before strings were checked may hold a lone
    surrogate: it is escaped (``\\ud800``) rather than failing the response."""
    data = job.to_dict()
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(data, separators=(",", ":")).encode()


def _unavailable(seconds: float) -> str:
    return (
        f"the store has been unreachable for {seconds:.0f} s; stored jobs are kept, new ones "
        f"are not accepted meanwhile (the job was not stored), retry after {RETRY_AFTER_S} s"
    )


def _no_such_job(job_id: str) -> JobNotFound | None:
    """Ids jobsim makes are short and printable: anything else cannot exist (and a NUL
    would upset a SQL driver), so it is a 404 without asking the store."""
    return JobNotFound(job_id[:200]) if len(job_id) > 200 or not job_id.isprintable() else None


def api_routes(
    pool: WorkerPool,
    store: JobStore,
    admission: Admission,
    instruments: Instruments,
    collector: PoolCollector,
    router: APIRouter | None = None,
) -> APIRouter:
    """The service's routes over this pool and store, added to ``router`` (default: a new
    one). The app passes its own router: an included router costs a lookup per request."""
    router = APIRouter() if router is None else router
    retry_after = {"Retry-After": str(RETRY_AFTER_S)}
    # A store that never waits (memory) needs no shield around a submit, and anyio's cancel
    # scope was about a tenth of the server's CPU per POST. Nor does pull mode (a shared
    # store): there the submit is the store's one write, which a cancellation cannot split
    # (the store's call waits for its statement's outcome), and nothing is queued after it.
    shield_submit = not isinstance(store, NonBlockingJobStore) and pool.lease is None
    job_id_param = Path(description="The job's id, as returned by POST /jobs.")

    @router.get("/health", response_model=Health, summary="Liveness, load and job counts")
    async def health() -> Any:
        down = outage_seconds(store)
        if down is not None:  # answer now: the store's calls wait out the outage
            return error_response(503, _unavailable(down), headers=retry_after)
        counts = await store.counts()
        return pool.health() | {"counts": {status.value: n for status, n in counts.items()}}

    # HEAD answers like GET (uvicorn drops the body); not a second operation in the schema.
    router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)

    @router.post(
        "/jobs",
        status_code=201,
        response_model=JobOut,
        summary="Submit a job",
        responses={
            201: {
                "description": "Stored and queued; it will run. `Location` points to it.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **responses(400, 413, 415, 422, 503),
        },
    )
    async def create_job(spec: JobCreate) -> Response:
        try:
            job = Job(
                type=spec.type,
                payload=spec.payload.model_dump(exclude_unset=True),
                priority=spec.priority,
                ttl=spec.ttl,
            )
        except ValueError as exc:  # the domain's own rules, should they be stricter than ours
            return error_response(422, f"invalid job: {exc}")
        if pool.state != "running":
            instruments.rejected.labels("closing").inc()
            return error_response(503, _CLOSING, headers=retry_after)
        down = outage_seconds(store)
        if down is not None:
            instruments.rejected.labels("store").inc()
            return error_response(503, _unavailable(down), headers=retry_after)
        if not await admission.acquire():
            instruments.rejected.labels("full").inc()
            return error_response(
                503,
                f"the queue is full ({pool.capacity} jobs waiting); the job was not stored, "
                f"retry after {RETRY_AFTER_S} s",
                headers=retry_after,
            )
        try:
            if shield_submit:
                # Shielded: with a reserved slot the delivery cannot block, and nothing may
                # interrupt between the store's write and the delivery (stored, undelivered).
                with anyio.CancelScope(shield=True):
                    await pool.submit(job)
            else:  # no delivery after the write, or no suspension point at all
                await pool.submit(job)
        except PoolClosed:
            instruments.rejected.labels("closing").inc()
            return error_response(503, _CLOSING, headers=retry_after)
        finally:
            admission.release()
        return Response(
            job_json(job), 201, headers={"Location": f"/jobs/{job.id}"}, media_type=_JSON
        )

    @router.get(
        "/jobs",
        response_model=JobList,
        summary="List jobs",
        description=f"A page of at most `limit` jobs and at most {LIST_BYTES // 1024} KiB: "
        "when the size bound ends a page early, `truncated` is true. Ask for the next page "
        "with `offset=next_offset` (null when there are no more jobs).",
        responses=responses(422),
    )
    async def list_jobs(
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Jobs to skip.")] = 0,
    ) -> Response:
        parts: list[bytes] = []
        size = 0
        truncated = more = False
        while not truncated and len(parts) < limit:
            want = min(_LIST_CHUNK, limit - len(parts))
            chunk = await store.list(status=status, limit=want, offset=offset + len(parts))
            for job in chunk:
                encoded = job_json(job)
                if parts and size + len(encoded) > LIST_BYTES:
                    truncated = True
                    break
                parts.append(encoded)
                size += len(encoded)
            more = truncated or len(chunk) == want
            if len(chunk) < want:
                break
        next_offset = offset + len(parts) if more else None
        tail = {
            "limit": limit,
            "offset": offset,
            "next_offset": next_offset,
            "truncated": truncated,
        }
        body = b'{"jobs":[' + b",".join(parts) + b"]," + json.dumps(tail)[1:].encode()
        return Response(body, media_type=_JSON)

    @router.get(
        "/jobs/{job_id}", response_model=JobOut, summary="One job", responses=responses(404, 422)
    )
    async def get_job(job_id: str = job_id_param) -> Response:
        if missing := _no_such_job(job_id):
            raise missing
        return Response(job_json(await store.get(job_id)), media_type=_JSON)

    @router.delete(
        "/jobs/{job_id}",
        response_model=JobOut,
        summary="Cancel a job",
        description="Cancels a pending job, or stops a running one (it ends `cancelled`). "
        "409 when it has already finished.",
        responses=responses(404, 409, 422),
    )
    async def cancel_job(job_id: str = job_id_param) -> Response:
        if missing := _no_such_job(job_id):
            raise missing
        job = await store.get(job_id)
        if job.is_final or not await pool.cancel(job_id):
            job = await store.get(job_id)
            return error_response(
                409,
                f"job {job_id!r} is already {job.status.value}; only pending or running jobs "
                "can be cancelled",
            )
        return Response(job_json(await store.get(job_id)), media_type=_JSON)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics() -> Response:
        collector.counts = await store.counts()
        return Response(generate_latest(instruments.registry), media_type=CONTENT_TYPE_LATEST)

    return router
