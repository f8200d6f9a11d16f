"""The SQLite store's connections to its file: the event loop's own (while the write lock is
free, see :mod:`~jobsim.stores._loop_commit`), one database thread's (when it is not), each
with group commit, and a check before every transaction that the file at the path is still
the file it opened."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from jobsim.stores._loop_commit import LoopCommit
from jobsim.stores._sqlite_schema import connect
from jobsim.stores._threads import ConnectionThreads, hand_off
from jobsim.stores.errors import StoreUnavailable

__all__ = ["SQLiteFile"]

T = TypeVar("T")


class SQLiteFile:
    """The open database at ``path`` (``":memory:"``: a private one, served by the thread).

    The directory must exist (it is never created silently). If the file is removed or
    replaced while open, every later call raises :class:`~jobsim.stores.StoreUnavailable`.
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        if path != ":memory:":
            parent = Path(path).absolute().parent
            if not parent.is_dir():
                raise FileNotFoundError(
                    f"the directory {str(parent)!r} does not exist; create it first "
                    "(jobsim does not create directories)"
                )
        self._conn = conn = connect(path, busy_timeout)
        if path != ":memory:":
            self._identity = _file_identity(path)
        # One thread owns the one connection: SQLite has one writer anyway. Its calls get one
        # cursor for the connection's whole life: ``conn.execute`` makes a cursor (and a weak
        # reference to it) per statement, half the cost of a small statement. Every call reads
        # its rows to the end, so the cursor never holds a statement open across calls.
        cursor = conn.cursor()
        self._threads: ConnectionThreads[sqlite3.Cursor] | None = ConnectionThreads(
            lambda: cursor,
            _close_connection,
            max_threads=1,
            name="jobsim-sqlite",
            group=_transaction,
            check=None if self._identity is None else self._check,
        )
        # Statements run on the caller's event loop while the write lock is free (see
        # LoopCommit); a private in-memory database has only the thread's connection.
        self._loop: LoopCommit | None = None
        if path != ":memory:":
            threads = self._threads
            self._loop = LoopCommit(
                _loop_connection(path), threads.send, self._check, lambda: threads.busy
            )

    @property
    def closed(self) -> bool:
        return self._threads is None

    def run(self, fn: Callable[[sqlite3.Cursor], T]) -> Coroutine[Any, Any, T]:
        """Run ``fn(cursor)`` and await its result, answered once it is committed: on the
        caller's own thread while the file's write lock is free, else on the database thread.
        (The hand-off's own coroutine, not one wrapped around it: a frame less per statement.)
        """
        threads = self._open_threads()
        if self._loop is None:
            return threads.call(fn)
        return hand_off(fn, threads.send, self._loop.run_here)

    def run_on_thread(self, fn: Callable[[sqlite3.Cursor], T]) -> Coroutine[Any, Any, T]:
        """Run ``fn(cursor)`` on the database thread whatever the lock: for statements whose
        work grows with the table, which would hold up the event loop for as long."""
        return self._open_threads().call(fn)

    def _open_threads(self) -> ConnectionThreads[sqlite3.Cursor]:
        threads = self._threads
        if threads is None:
            raise RuntimeError(f"the SQLite store at {self.path!r} is closed; open a new store")
        return threads

    def _check(self, conn: sqlite3.Cursor) -> None:
        """Refuse to go on once the database file was removed or replaced: the connection
        would keep working on the old, unlinked file while everyone else uses the new one
        (a split brain). One ``stat`` per transaction (a call, or a group commit's calls),
        on the database thread, before it runs."""
        try:
            now: tuple[int, int] | None = _file_identity(self.path)
        except FileNotFoundError:
            now = None
        if now != self._identity:
            what = "removed" if now is None else "replaced by another file"
            raise StoreUnavailable(
                f"the SQLite database {self.path!r} was {what} while this store had it "
                "open; stopping rather than working on a file nobody else sees "
                "(open the store again to use the file now at that path)"
            )

    async def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()
        threads, self._threads = self._threads, None
        if threads is not None:
            started = threads.close()  # the thread closes the connection after queued work
            for thread in started:
                await anyio.to_thread.run_sync(thread.join)
            if not started:  # never used: no thread owns the connection
                self._conn.close()
        if loop is not None:
            loop.close_log()  # no flush of the log's can follow now


def _file_identity(path: str) -> tuple[int, int]:
    """(device, inode) of the file at ``path``: which file, not just which name."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _loop_connection(path: str) -> sqlite3.Cursor:
    """The event loop's connection (see :class:`LoopCommit`): it never waits for a lock and
    never checkpoints. The file and its schema exist already (``connect`` made them)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn.cursor()


def _close_connection(cursor: sqlite3.Cursor) -> None:
    cursor.connection.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Cursor) -> Iterator[None]:
    """Group commit: the calls waiting on the database thread share one write transaction
    (one lock round and one WAL commit instead of one each)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
