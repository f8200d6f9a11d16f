"""The PostgreSQL store's connections: blocking psycopg connections, each held by one
database thread, and every call riding out an outage (see
:class:`~jobsim.stores._outage.OutageGuard`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import psycopg

from jobsim.stores._outage import OutageGuard
from jobsim.stores._pg_schema import schema_sql
from jobsim.stores._sql import ADDED_COLUMNS
from jobsim.stores._threads import ConnectionThreads
from jobsim.stores.masking import mask_url

__all__ = ["UNREACHABLE", "PostgresConnections"]

T = TypeVar("T")

#: Errors that mean "the server cannot be reached" (not "the statement is wrong").
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError)

_COLUMNS = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = %s"
)


class PostgresConnections:
    """Up to ``max_connections`` database threads on ``conninfo``, started on demand; each
    holds one connection for its life (so the threads are the pool), and a connection found
    broken is closed and the next call makes a new one."""

    def __init__(
        self,
        conninfo: str,
        *,
        name: str,
        max_connections: int,
        connect_timeout: float,
        outage_limit: float,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        self.conninfo = conninfo
        self.name = name
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.outage = OutageGuard(mask_url(conninfo), conninfo, outage_limit, UNREACHABLE)
        self._threads: ConnectionThreads[psycopg.Connection[Any]] | None = None

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection (blocking)."""
        return psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
        )

    async def call(
        self, fn: Callable[[psycopg.Connection[Any]], T], retried: list[int] | None = None
    ) -> T:
        """Run ``fn(connection)`` on a database thread, riding out an outage; ``retried``
        counts the retries (a write may already have happened once)."""
        threads = self._threads
        if threads is None:
            threads = self._threads = ConnectionThreads(
                self.connect,
                _close,
                max_threads=self.max_connections,
                name=f"jobsim-pg-{self.name}",
                broken_errors=UNREACHABLE,
            )
        return await self.outage.run(lambda: threads.call(fn), retried)

    async def create_schema(self, table: str) -> None:
        """Create ``table``, its indexes and trigger unless present (safe to run concurrently).

        The DDL runs only when the table is missing or was made by an older jobsim (then it
        adds the missing columns and keeps the jobs): ``CREATE OR REPLACE TRIGGER`` locks the
        table against writes, which running workers must not feel when another one starts.
        """

        def create() -> None:
            with self.connect() as conn:
                have = {row[0] for row in conn.execute(_COLUMNS, (table,)).fetchall()}
                if have and have.issuperset(ADDED_COLUMNS):
                    return
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                    conn.execute(schema_sql(table))

        await anyio.to_thread.run_sync(create)

    async def close(self) -> None:
        """Stop the threads after the work already queued; each closes its connection."""
        threads, self._threads = self._threads, None
        if threads is not None:
            for thread in threads.close():
                await anyio.to_thread.run_sync(thread.join)


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()
