"""The job service's HTTP API, in process.

On asyncio each test talks to a real uvicorn server on 127.0.0.1 (``serve()`` on a free port);
on trio (uvicorn needs asyncio) the same app runs through httpx's ASGI transport, so the app
itself is checked on both backends.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
import pytest
from fastapi import FastAPI

from jobsim import Config, InMemoryJobStore, Job, JobStatus, WorkerPool
from jobsim.http import Instruments, Service, create_app, serve
from jobsim.http.retention import keep_finished
from jobsim.http.server import builtin_handler
from jobsim.stores.base import JobStore

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


@dataclass
class Api:
    client: httpx.AsyncClient
    pool: WorkerPool
    store: JobStore
    app: FastAPI


@asynccontextmanager
async def running_api(
    backend: str,
    *,
    workers: int = 4,
    capacity: int = 100,
    duration: float = 0.0,
    admission_wait: float = 0.5,
    dispatch: str = "fifo",
) -> AsyncIterator[Api]:
    config = Config(
        port=0,
        worker_count=workers,
        job_queue_capacity=capacity,
        job_duration=duration,
        shutdown_grace=0.0,  # teardown: interrupt what still runs
    )
    store = InMemoryJobStore()
    if backend == "asyncio":  # a real server on loopback
        started: list[Service] = []
        ready = anyio.Event()

        def on_ready(service: Service) -> None:
            started.append(service)
            ready.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: serve(
                    config,
                    store,
                    on_ready,
                    admission_wait=admission_wait,
                    handle_signals=False,
                    dispatch=dispatch,
                )
            )
            await ready.wait()
            service = started[0]
            async with httpx.AsyncClient(base_url=service.url) as client:
                try:
                    yield Api(client, service.pool, store, service.app)
                finally:
                    service.stop()
        return
    instruments = Instruments()
    pool = WorkerPool(
        store,
        builtin_handler(duration),
        workers=workers,
        capacity=capacity,
        clock=time.time,
        tracer=instruments.trace,
        dispatch=dispatch,
    )
    async with pool:
        app = create_app(
            pool, store, config, instruments=instruments, admission_wait=admission_wait
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, pool, store, app)
        await pool.shutdown(timeout=0)


async def wait_for_status(client: httpx.AsyncClient, job_id: str, status: str) -> dict:
    with anyio.fail_after(10):
        while True:
            job = (await client.get(f"/jobs/{job_id}")).json()
            if job["status"] == status:
                return job
            await anyio.sleep(0.01)


async def test_submit_then_read_list_and_health(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        r = await api.client.post("/jobs", json={"type": "email", "payload": {"to": "a@b"}})
        assert r.status_code == 201
        job = r.json()
        assert r.headers["location"] == f"/jobs/{job['id']}"
        assert job["type"] == "email" and job["payload"] == {"to": "a@b"}
        done = await wait_for_status(api.client, job["id"], "completed")
        assert done["result"] == {"slept": 0.0}
        assert done["worker_id"] in api.pool.worker_ids
        assert done["created"] <= done["started"] <= done["finished"]

        listed = (await api.client.get("/jobs", params={"status": "completed"})).json()
        assert [j["id"] for j in listed["jobs"]] == [job["id"]]
        assert (await api.client.get("/jobs", params={"status": "pending"})).json()["jobs"] == []

        health = (await api.client.get("/health")).json()
        assert health["status"] == "running"
        assert health["workers"] == 4
        assert health["counts"]["completed"] == 1


async def test_list_pages_in_creation_order(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        ids = []
        for i in range(5):
            r = await api.client.post("/jobs", json={"type": f"t{i}"})
            ids.append(r.json()["id"])
        page = (await api.client.get("/jobs", params={"limit": 2, "offset": 1})).json()
        assert [j["id"] for j in page["jobs"]] == ids[1:3]
        assert (page["limit"], page["offset"]) == (2, 1)


BAD_REQUESTS = [
    # (body bytes, content type, status, words the error must contain)
    (b"not json", "application/json", 400, "not valid JSON"),
    (b'{"type": "x"', "application/json", 400, "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400, "JSON"),
    (b"", "application/json", 422, "body"),
    (b"[]", "application/json", 422, "body"),
    (b'{"payload": {}}', "application/json", 422, "body.type: Field required"),
    (b'{"type": 5}', "application/json", 422, "body.type"),
    (b'{"type": ""}', "application/json", 422, "body.type"),
    (b'{"type": "x", "payload": [1]}', "application/json", 422, "body.payload"),
    (b'{"type": "x", "payload": "p"}', "application/json", 422, "body.payload"),
    (b'{"type": "x", "paylod": {}}', "application/json", 422, "body.paylod"),
    (b'{"type": "x", "payload": {"duration": -1}}', "application/json", 422, "duration"),
    (b'{"type": "x", "payload": {"duration": "1"}}', "application/json", 422, "duration"),
    (b'{"type": "x", "payload": {"a": NaN}}', "application/json", 422, "NaN"),
    (b'{"type": "x"}', "text/plain", 415, "application/json"),
]


async def test_bad_bodies_get_4xx_saying_what_is_wrong(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        for body, content_type, status, words in BAD_REQUESTS:
            r = await api.client.post("/jobs", content=body, headers={"content-type": content_type})
            assert r.status_code == status, (body[:60], r.text)
            assert words in r.json()["error"], (body[:60], r.text)
        assert await api.store.list() == []  # nothing half-accepted


async def test_body_over_64_kib_is_413_with_or_without_content_length(anyio_backend: str) -> None:
    big = b'{"type": "x", "payload": {"blob": "' + b"x" * 70_000 + b'"}}'

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    async with running_api(anyio_backend) as api:
        r = await api.client.post("/jobs", content=big, headers=JSON)
        assert r.status_code == 413 and "64 KiB" in r.json()["error"]
        r = await api.client.post("/jobs", content=chunks(), headers=JSON)
        assert r.status_code == 413
        # Just under the limit is fine.
        ok = b'{"type": "x", "payload": {"blob": "' + b"x" * 60_000 + b'"}}'
        assert (await api.client.post("/jobs", content=ok, headers=JSON)).status_code == 201
        assert len(await api.store.list()) == 1


async def test_unknown_ids_routes_and_methods(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        r = await api.client.get("/jobs/no-such-job")
        assert r.status_code == 404 and "no-such-job" in r.json()["error"]
        assert (await api.client.delete("/jobs/no-such-job")).status_code == 404
        r = await api.client.get("/nowhere")
        assert r.status_code == 404 and "/docs" in r.json()["error"]
        r = await api.client.put("/health")
        assert r.status_code == 405 and "PUT" in r.json()["error"]
        r = await api.client.get("/jobs", params={"status": "done"})
        assert r.status_code == 422 and "pending" in r.json()["error"]  # lists what is allowed
        r = await api.client.get("/jobs", params={"limit": 0})
        assert r.status_code == 422 and "query.limit" in r.json()["error"]


async def test_delete_cancels_pending_and_running_but_409_once_finished(
    anyio_backend: str,
) -> None:
    async with running_api(anyio_backend, workers=1, duration=60) as api:
        running = (await api.client.post("/jobs", json={"type": "a"})).json()
        queued = (await api.client.post("/jobs", json={"type": "b"})).json()
        await wait_for_status(api.client, running["id"], "processing")

        r = await api.client.delete(f"/jobs/{queued['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        r = await api.client.delete(f"/jobs/{running['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"

        r = await api.client.delete(f"/jobs/{running['id']}")
        assert r.status_code == 409 and "already cancelled" in r.json()["error"]
        fast = (
            await api.client.post("/jobs", json={"type": "c", "payload": {"duration": 0}})
        ).json()
        await wait_for_status(api.client, fast["id"], "completed")
        r = await api.client.delete(f"/jobs/{fast['id']}")
        assert r.status_code == 409 and "already completed" in r.json()["error"]
        counts = await api.store.counts()
        assert counts[JobStatus.CANCELLED] == 2 and counts[JobStatus.COMPLETED] == 1


async def test_full_queue_answers_503_and_stores_nothing(anyio_backend: str) -> None:
    # One worker busy for a minute, one slot: the third POST finds no room.
    async with running_api(
        anyio_backend, workers=1, capacity=1, duration=60, admission_wait=0.05
    ) as api:
        first = await api.client.post("/jobs", json={"type": "a"})
        await wait_for_status(api.client, first.json()["id"], "processing")
        second = await api.client.post("/jobs", json={"type": "b"})
        third = await api.client.post("/jobs", json={"type": "c"})
        assert (first.status_code, second.status_code, third.status_code) == (201, 201, 503)
        assert third.headers["retry-after"] == "1"
        assert "not stored" in third.json()["error"]
        assert sorted(j.type for j in await api.store.list()) == ["a", "b"]
        metrics = (await api.client.get("/metrics")).text
        assert 'jobsim_http_rejected_total{reason="full"} 1.0' in metrics


async def test_waiting_post_is_admitted_when_a_slot_frees(anyio_backend: str) -> None:
    async with running_api(
        anyio_backend, workers=1, capacity=1, duration=60, admission_wait=30
    ) as api:
        first = (await api.client.post("/jobs", json={"type": "a"})).json()
        await wait_for_status(api.client, first["id"], "processing")
        await api.client.post("/jobs", json={"type": "b"})  # fills the one slot
        answers: list[httpx.Response] = []

        async def post_third() -> None:
            answers.append(await api.client.post("/jobs", json={"type": "c"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(post_third)
            with anyio.fail_after(10):
                while api.app.state.admission.waiting == 0:
                    await anyio.sleep(0.01)
            assert answers == []  # still waiting for room
            # Cancelling the running job frees the worker; it takes "b"; "c" gets the slot.
            await api.client.delete(f"/jobs/{first['id']}")
        assert answers[0].status_code == 201
        assert sorted(j.type for j in await api.store.list()) == ["a", "b", "c"]


async def test_metrics_expose_counts_depth_workers_and_latency(anyio_backend: str) -> None:
    async with running_api(anyio_backend, workers=2) as api:
        ids = [(await api.client.post("/jobs", json={"type": "m"})).json()["id"] for _ in range(3)]
        for job_id in ids:
            await wait_for_status(api.client, job_id, "completed")
        r = await api.client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        assert 'jobsim_jobs{status="completed"} 3.0' in text
        assert "jobsim_queue_depth 0.0" in text
        assert "jobsim_workers 2.0" in text
        processed = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("jobsim_worker_processed_total{")
        ]
        assert len(processed) == 2 and sum(processed) == 3
        assert "jobsim_job_latency_seconds_count 3.0" in text


async def test_openapi_and_docs(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        spec = (await api.client.get("/openapi.json")).json()
        post = spec["paths"]["/jobs"]["post"]
        assert {"201", "400", "413", "415", "422", "503"} <= set(post["responses"])
        assert "JobCreate" in spec["components"]["schemas"]
        assert (await api.client.get("/docs")).status_code == 200


async def test_openapi_has_one_operation_per_route_and_no_warning(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        api.app.openapi_schema = None  # build it again, here, with warnings as errors
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # FastAPI warns "Duplicate Operation ID"
            spec = api.app.openapi()
        ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
        assert len(ids) == len(set(ids)), ids
        assert "head" not in spec["paths"]["/health"]
        head = await api.client.head("/health")
        assert head.status_code == 200 and head.content == b""


async def test_the_retention_task_purges_by_count_and_by_age(anyio_backend: str) -> None:
    store = InMemoryJobStore()
    jobs = [Job(type="done") for _ in range(5)]
    for job in jobs:
        await store.add(job)
        assert await store.claim(job.id, "w")
        await store.complete(job.id, at=time.time() - 100)  # finished 100 s ago
    pending = await store.add(Job(type="waiting"))

    async def left() -> int:
        return len(store)

    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_finished, store, 3, None, 0.01)  # by count: keep 3
        with anyio.fail_after(10):
            while await left() > 4:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_finished, store, None, 50.0, 0.01)  # by age: older than 50 s
        with anyio.fail_after(10):
            while await left() > 1:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert [job.id for job in await store.list()] == [pending.id]
