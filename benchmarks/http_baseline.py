"""The yardstick of ``python -m benchmarks http``: a minimal FastAPI app that keeps jobs in a dict.

``POST /jobs`` validates the same body as the job service with a similar pydantic model (a
``type`` name, a free ``payload`` object with an optional bounded ``duration``, an integer
``priority`` and an optional ``ttl``), keeps it in a dict under a fresh id and answers ``201``
with the stored record, the way a FastAPI tutorial would write it. ``GET /health`` says how
many it holds. Nothing runs, nothing is persisted: what the job service costs beyond this is
its pool, its store, its limits and its metrics.

Run as ``python -m benchmarks.http_baseline``: it serves on ``PORT`` (0 picks a free one) with
the job service's uvicorn settings (httptools, asyncio's own loop, one process, no access log)
and prints ``listening on http://127.0.0.1:PORT:`` on stderr, like ``jobsim serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import sys
import time
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

__all__ = ["JobIn", "JobStored", "create_app", "main"]


class JobIn(BaseModel):
    """The body of ``POST /jobs``: the job service's fields and bounds."""

    type: str = Field(min_length=1, max_length=200, pattern=r"^[\w .:/@+-]+$")
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(default=0, ge=-1000, le=1000)
    ttl: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class JobStored(JobIn):
    """A kept job: the body plus its id, status and creation time."""

    id: str
    status: str
    created: float


def create_app() -> FastAPI:
    """The minimal app: one dict, one POST, one GET."""
    app = FastAPI(title="baseline")
    jobs: dict[str, JobStored] = {}
    ids = itertools.count()

    @app.post("/jobs", status_code=201, response_model=JobStored)
    async def create_job(job: JobIn) -> JobStored:
        stored = JobStored(
            **job.model_dump(), id=f"job-{next(ids)}", status="pending", created=time.time()
        )
        jobs[stored.id] = stored
        return stored

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "running", "counts": {"pending": 0, "processing": 0, "kept": len(jobs)}}

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:  # SIGTERM ends the process
        yield


async def _serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as jobsim serve does
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        create_app(),
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110  # uvicorn has no event
        await asyncio.sleep(0.005)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}: baseline", file=sys.stderr)
    await task


def main() -> None:
    """Serve until killed."""
    asyncio.run(_serve(int(os.environ.get("PORT", "0"))))


if __name__ == "__main__":
    main()
