"""PostgreSQL specifics: LISTEN/NOTIFY wake-ups, idempotent schema, asyncio and trio."""

from __future__ import annotations

import uuid

import anyio
import pytest

from jobsim import Job
from jobsim.stores.postgres import PostgresJobStore

pytestmark = pytest.mark.anyio


async def test_a_notify_between_an_empty_claim_and_the_wait_is_not_missed(
    postgres_url: str, anyio_backend: str
) -> None:
    table = f"t_{uuid.uuid4().hex[:16]}"
    waiter = await PostgresJobStore.connect(postgres_url, table=table)
    producer = await PostgresJobStore.connect(postgres_url, table=table)
    try:
        await waiter.wait_for_jobs(0.01)  # starts the listener
        assert await waiter.claim_next("w", 5.0) is None
        listener = waiter._listener
        assert listener is not None
        before = listener.generation
        await producer.add(Job())  # NOTIFY arrives before the worker waits
        with anyio.fail_after(10):
            while listener.generation == before:
                await anyio.sleep(0.01)
        with anyio.fail_after(10):  # 60 s would mean the notification was missed
            await waiter.wait_for_jobs(60.0)
        assert await waiter.claim_next("w", 5.0) is not None
    finally:
        await waiter.close()
        await producer.close()


async def test_connecting_again_keeps_the_jobs_and_the_schema(
    postgres_url: str, anyio_backend: str
) -> None:
    table = f"t_{uuid.uuid4().hex[:16]}"
    first = await PostgresJobStore.connect(postgres_url, table=table)
    job = await first.add(Job(payload={"k": "v"}))
    await first.close()
    again = await PostgresJobStore.connect(postgres_url, table=table)
    try:
        assert (await again.get(job.id)).payload == {"k": "v"}
    finally:
        await again.close()


def test_a_bad_table_name_is_refused() -> None:
    with pytest.raises(ValueError, match="lower-case SQL identifier"):
        PostgresJobStore("postgresql://x/y", table="jobs; DROP TABLE x")
