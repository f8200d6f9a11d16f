"""PostgreSQL outages: a restart or a pause of the server is ridden out, logged once; only an
outage past ``outage_limit`` fails, with one clear ``StoreUnavailable``.

These tests stop and start a PostgreSQL server of their own (``TemporaryPostgres.pause`` /
``resume`` / ``restart``), on asyncio and trio.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from servers import own_postgres as start_postgres

from jobsim import Job, JobStatus
from jobsim.stores import StoreUnavailable
from jobsim.stores.postgres import PostgresJobStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def table() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with start_postgres() as pg:
        yield pg


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def _in_thread(fn: Any, delay: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), fn()))
    thread.start()
    return thread


async def test_statements_ride_out_a_restart_and_an_outage_logged_once(
    server: Any, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "jobsim")
    store = await PostgresJobStore.connect(server.url, table=table, max_connections=4)
    try:
        job = await store.add(Job())
        await anyio.to_thread.run_sync(server.restart)  # every connection is cut
        assert (await store.get(job.id)).status is JobStatus.PENDING
        await anyio.to_thread.run_sync(server.pause)
        thread = _in_thread(server.resume, 2.0)
        try:
            async with anyio.create_task_group() as tg:  # several callers wait at once
                for _ in range(6):
                    tg.start_soon(store.counts)
                claimed = await store.claim_next("w", 30.0)
        finally:
            await anyio.to_thread.run_sync(thread.join)
        assert claimed is not None and claimed.id == job.id
        assert _warnings(caplog, "unreachable") == 1  # once for the pause, not per statement
        assert _warnings(caplog, "reachable again") == 1
        assert store.outage.outages == 1
    finally:
        await store.close()


async def test_an_outage_past_the_limit_fails_with_one_clear_error(server: Any, table: str) -> None:
    store = await PostgresJobStore.connect(server.url, table=table, outage_limit=1.0)
    try:
        await anyio.to_thread.run_sync(server.pause)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"unreachable for \d+ s \(limit 1 s\)") as e:
            await store.counts()
        assert time.monotonic() - started < 30
        assert "\n" not in str(e.value)
    finally:
        await anyio.to_thread.run_sync(server.resume)
        await store.close()


async def test_listen_is_re_established_after_a_restart(server: Any, table: str) -> None:
    waiter = await PostgresJobStore.connect(server.url, table=table)
    producer = await PostgresJobStore.connect(server.url, table=table)
    try:
        await waiter.wait_for_jobs(0.01)  # the listener is up
        await anyio.to_thread.run_sync(server.restart)
        deadline = time.monotonic() + 20
        while waiter._listener is not None and waiter._listener.connections < 2:
            assert time.monotonic() < deadline, "LISTEN never came back"
            await anyio.sleep(0.1)
        assert await waiter.claim_next("w", 5.0) is None
        with anyio.fail_after(15):  # woken by the NOTIFY, not by the 60 s timeout
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter.wait_for_jobs, 60.0)
                await anyio.sleep(0.3)
                await producer.add(Job())
    finally:
        await waiter.close()
        await producer.close()


async def test_leases_that_lapsed_during_an_outage_wait_for_their_holders(
    server: Any, table: str
) -> None:
    store = await PostgresJobStore.connect(server.url, table=table)
    try:
        await store.add(Job())
        job = await store.claim_next("holder", 0.5)
        await anyio.to_thread.run_sync(server.pause)
        await anyio.sleep(1.0)  # the lease lapses while nobody can renew it
        await anyio.to_thread.run_sync(server.resume)
        assert await store.requeue_expired(settle=30.0) == 0  # the holder renews first...
        assert await store.renew(job.id, job.token, 30.0) is True
        assert (await store.get(job.id)).status is JobStatus.PROCESSING
        assert await store.requeue_expired(settle=0.0) == 0  # ...and keeps its claim
    finally:
        await store.close()
