"""The live dashboard: ``GET /dashboard``, one HTML page that polls ``GET /dashboard/data``.

No build step and nothing from the network: the page and its script are files of this package
(``static/``). The script writes every value with ``textContent`` (never as HTML), and the
page is served with a Content-Security-Policy that allows only its own script, so a job type
or payload holding ``<script>`` shows as text and cannot run.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jobsim.http.metrics import Throughput
from jobsim.pool import WorkerPool
from jobsim.stores.base import JobStore

__all__ = ["DashboardData", "dashboard_routes"]

#: Jobs shown in the "most recent" table.
RECENT = 15
#: Characters of a job's payload shown in the table.
PREVIEW = 80
_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DashboardJob(BaseModel):
    """One row of the "most recent jobs" table."""

    id: str
    type: str
    status: str
    attempts: int
    worker_id: str | None
    created: float | None
    finished: float | None
    payload: str = Field(description=f"The payload as JSON, cut to {PREVIEW} characters.")


class DashboardData(BaseModel):
    """What the dashboard shows, polled once a second."""

    status: str = Field(description="The pool's state: running, closing or closed.")
    workers: int
    busy: int
    idle: int
    queue_depth: int
    capacity: int
    counts: dict[str, int] = Field(description="Jobs in the store by status.")
    throughput: list[float] = Field(
        description="Jobs finished per second, in bins of `bin_seconds`, oldest first."
    )
    bin_seconds: float
    recent: list[DashboardJob] = Field(description="The most recently created jobs, newest first.")
    now: float = Field(description="Server time, seconds since the epoch.")


def _static(name: str) -> bytes:
    return (resources.files("jobsim.http") / "static" / name).read_bytes()


def _preview(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def dashboard_routes(
    pool: WorkerPool,
    store: JobStore,
    throughput: Throughput,
    router: APIRouter | None = None,
) -> APIRouter:
    """``/dashboard`` (the page), ``/dashboard/app.js`` (its script), ``/dashboard/data``,
    added to ``router`` (default: a new one)."""
    router = APIRouter() if router is None else router
    page, script = _static("dashboard.html"), _static("dashboard.js")
    headers = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}
    bins = 30

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @router.get("/dashboard/app.js", include_in_schema=False)
    async def dashboard_script() -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8", headers=headers)

    @router.get(
        "/dashboard/data",
        response_model=DashboardData,
        summary="What the live dashboard shows",
        description="Workers, queue, counts by status, throughput over the last "
        f"{throughput.window // 60} minutes and the {RECENT} most recent jobs.",
    )
    async def dashboard_data() -> dict[str, Any]:
        counts = await store.counts()
        total = sum(counts.values())
        recent = await store.list(limit=RECENT, offset=max(0, total - RECENT))
        now = time.time()
        return {
            "status": pool.state,
            "workers": pool.workers,
            "busy": pool.busy,
            "idle": max(0, pool.workers - pool.busy),
            "queue_depth": pool.queue_depth,
            "capacity": pool.capacity,
            "counts": {status.value: n for status, n in counts.items()},
            "throughput": throughput.rates(now, bins),
            "bin_seconds": throughput.window / bins,
            "recent": [
                {**job.to_dict(), "status": job.status.value, "payload": _preview(job.payload)}
                for job in reversed(recent)
            ],
            "now": now,
        }

    return router
