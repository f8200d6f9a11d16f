"""The ``store`` fixture: every contract test runs on memory, SQLite and PostgreSQL.

Each test gets a fresh store: a new dict, a new SQLite file, or a new table in the session's
PostgreSQL database. ``open_more`` opens extra stores on the *same* data (more connections,
as other processes would have), for the atomicity tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jobsim import InMemoryJobStore
from jobsim.stores import JobStore
from jobsim.stores.postgres import PostgresJobStore
from jobsim.stores.sqlite import SQLiteJobStore

STORES = ["memory", "sqlite", "postgresql"]
# Stores with claim_next/renew/requeue_expired (memory joins once it grows them).
LEASING = [name for name in STORES if name != "memory" or hasattr(InMemoryJobStore, "claim_next")]

Opener = Callable[[], Awaitable[JobStore]]


class StoreFactory:
    """Opens stores over one set of data and closes them all at the end."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.opened: list[JobStore] = []
        self._memory = InMemoryJobStore()
        self._path = tmp_path / "jobs.db"
        self._table = f"t_{uuid.uuid4().hex[:16]}"
        self._url = request.getfixturevalue("postgres_url") if kind == "postgresql" else ""

    async def open(self) -> JobStore:
        store: Any
        if self.kind == "memory":
            store = self._memory  # one process, one dict: "another connection" is the same store
        elif self.kind == "sqlite":
            store = await SQLiteJobStore.open(self._path)
        else:
            store = await PostgresJobStore.connect(self._url, table=self._table)
        self.opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=STORES)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[StoreFactory]:
    factory = StoreFactory(request.param, tmp_path, request)
    yield factory
    await factory.close_all()


@pytest.fixture
async def store(store_factory: StoreFactory) -> JobStore:
    return await store_factory.open()


@pytest.fixture(params=LEASING)
async def leasing_factory(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[StoreFactory]:
    factory = StoreFactory(request.param, tmp_path, request)
    yield factory
    await factory.close_all()


@pytest.fixture
async def leasing_store(leasing_factory: StoreFactory) -> Any:
    return await leasing_factory.open()
