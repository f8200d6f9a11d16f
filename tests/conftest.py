"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the whole session (stores and multi-process tests).

    Started from the installed binaries with pytest-postgresql's executor, as an unprivileged
    user when we are root (see jobsim/stores/pgtemp.py). Without binaries the PostgreSQL
    tests skip locally but FAIL in CI (CI=true): no PostgreSQL test may be skipped there.
    """
    from servers import own_postgres

    with own_postgres() as server:
        yield server.url
