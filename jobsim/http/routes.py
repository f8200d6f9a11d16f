"""The endpoints of the job service: health, jobs (submit, list, read, cancel) and metrics.

:func:`api_routes` builds them over one running pool, its store, the admission and the
metrics; :func:`~jobsim.http.app.create_app` mounts them.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jobsim.domain import Job, JobStatus, PoolClosed
from jobsim.http.admission import Admission
from jobsim.http.errors import error_response, responses
from jobsim.http.metrics import Instruments, PoolCollector
from jobsim.http.models import Health, JobCreate, JobList, JobOut
from jobsim.pool import WorkerPool
from jobsim.stores.base import JobStore

__all__ = ["RETRY_AFTER_S", "api_routes"]

#: Seconds a client is told to wait after a 503.
RETRY_AFTER_S = 1
_CLOSING = "the service is shutting down; the job was not stored"


def api_routes(
    pool: WorkerPool,
    store: JobStore,
    admission: Admission,
    instruments: Instruments,
    collector: PoolCollector,
) -> APIRouter:
    """The service's routes over this pool and store."""
    router = APIRouter()
    retry_after = {"Retry-After": str(RETRY_AFTER_S)}
    job_id_param = Path(description="The job's id, as returned by POST /jobs.")

    @router.get("/health", response_model=Health, summary="Liveness, load and job counts")
    async def health() -> dict[str, Any]:
        counts = await store.counts()
        return {
            "status": pool.state,
            "workers": pool.workers,
            "busy": pool.busy,
            "queue_depth": pool.queue_depth,
            "capacity": pool.capacity,
            "counts": {status.value: n for status, n in counts.items()},
        }

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
        job = Job(type=spec.type, payload=spec.payload.model_dump(exclude_unset=True))
        if pool.state != "running":
            instruments.rejected.labels("closing").inc()
            return error_response(503, _CLOSING, headers=retry_after)
        if not await admission.acquire():
            instruments.rejected.labels("full").inc()
            return error_response(
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
            return error_response(503, _CLOSING, headers=retry_after)
        finally:
            admission.release()
        return JSONResponse(job.to_dict(), status_code=201, headers={"Location": f"/jobs/{job.id}"})

    @router.get("/jobs", response_model=JobList, summary="List jobs", responses=responses(422))
    async def list_jobs(
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Jobs to skip.")] = 0,
    ) -> Response:
        jobs = await store.list(status=status, limit=limit, offset=offset)
        return JSONResponse({"jobs": [j.to_dict() for j in jobs], "limit": limit, "offset": offset})

    @router.get(
        "/jobs/{job_id}", response_model=JobOut, summary="One job", responses=responses(404, 422)
    )
    async def get_job(job_id: str = job_id_param) -> Response:
        return JSONResponse((await store.get(job_id)).to_dict())

    @router.delete(
        "/jobs/{job_id}",
        response_model=JobOut,
        summary="Cancel a job",
        description="Cancels a pending job, or stops a running one (it ends `cancelled`). "
        "409 when it has already finished.",
        responses=responses(404, 409, 422),
    )
    async def cancel_job(job_id: str = job_id_param) -> Response:
        job = await store.get(job_id)
        if job.is_final or not await pool.cancel(job_id):
            job = await store.get(job_id)
            return error_response(
                409,
                f"job {job_id!r} is already {job.status.value}; only pending or running jobs "
                "can be cancelled",
            )
        return JSONResponse((await store.get(job_id)).to_dict())

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
