"""Shared by the tests that need their own servers or a store for one call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from jobsim.stores import open_store


@contextmanager
def own_postgres(**options: Any) -> Iterator[Any]:
    """A throwaway PostgreSQL server (``TemporaryPostgres(**options)``), stopped afterwards.

    Without server binaries the test skips locally but FAILS in CI (CI=true): no PostgreSQL
    test may be skipped there.
    """
    from jobsim.stores.pgtemp import PostgresUnavailable, TemporaryPostgres

    try:
        server = TemporaryPostgres(**options).start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI needs a PostgreSQL server for the store tests: {exc}")
        pytest.skip(f"no PostgreSQL server binaries: {exc}")
    try:
        yield server
    finally:
        server.stop()


def with_store(url: str, fn: Any) -> Any:
    """``await fn(store)`` on a store opened from ``url`` (closed afterwards), from sync code."""

    async def run() -> Any:
        store = await open_store(url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return anyio.run(run)
