"""Group commit on the event loop: a SQLite statement runs on the caller's own thread when the
file's write lock is free, and goes to the database thread when it is not.

A small statement on a local file takes a few microseconds of SQLite's time; sending it to a
database thread and back costs several times that (a queue, a wake-up of each thread, and the
two threads taking the GIL in turn around every ``sqlite3_step``). So the first call of an
event-loop step opens a write transaction on the loop's own connection (``BEGIN IMMEDIATE``
with no busy wait: it either gets the lock at once or fails at once); that call and the
others made in the same step run in it as they come, and one callback at the end of the step
commits and only then answers them all, so nothing is acknowledged before it is committed.

Nothing here waits on the event loop for a lock or a disk flush:

* a lock held by another connection (another process, or the database thread) fails the
  ``BEGIN`` at once, and the call goes to the database thread, which waits ``busy_timeout``;
* the loop's connection never checkpoints (``wal_autocheckpoint = 0``: a checkpoint is the
  one step that calls ``fsync``); every :attr:`LoopCommit.CHECKPOINT_EVERY` rows changed, the
  database thread runs a passive checkpoint instead;
* only one thread at a time owns the loop's connection: a call from another thread while a
  step's transaction is open goes to the database thread.

Fair to other processes: a busy loop would take the lock again microseconds after each
commit, while other writers' busy handlers sleep between tries (1, 2, 5, 10 ms ...) and
seldom catch the gap, so one process could take nearly all the work of a shared file. Once
the loop finds the lock taken by someone else than its own database thread, it sends its
calls to that thread for :attr:`LoopCommit.YIELD_FOR` seconds, where they wait for the lock
like everyone else's.

What the loop still does is a job's few small statements and, at each commit, writing the
pages they changed to the WAL, into the operating system's page cache (a commit in WAL mode
with ``synchronous = NORMAL`` does not ``fsync``). Only a disk so slow that the kernel
throttles those writes would hold the loop up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from jobsim.stores._threads import Call, resume

__all__ = ["LoopCommit"]

logger = logging.getLogger("jobsim.stores")


class LoopCommit:
    """Runs calls on ``cursor`` (the loop's connection, opened with
    ``busy_timeout = 0`` and ``wal_autocheckpoint = 0``) in one transaction per event-loop step.

    Args:
        cursor: the loop's connection's one cursor.
        elsewhere: sends a call to the database thread (when the lock is taken).
        check: runs before each transaction (the file's identity); raising sends the call to
            the database thread, which runs the check again and answers with its error.
        thread_busy: whether the store's own database thread is running a call (then a
            lock found taken is most likely its own, and the loop does not yield).
    """

    #: Rows changed on the loop's connection between two checkpoints on the database thread.
    CHECKPOINT_EVERY: ClassVar[int] = 2000
    #: Seconds the loop leaves the lock to the database thread's fair wait once it found the
    #: lock taken (another writer is active).
    YIELD_FOR: ClassVar[float] = 0.2

    def __init__(
        self,
        cursor: sqlite3.Cursor,
        elsewhere: Callable[[Call], None],
        check: Callable[[sqlite3.Cursor], object] | None,
        thread_busy: Callable[[], bool],
    ) -> None:
        self._cursor = cursor
        self._thread_busy = thread_busy
        self._elsewhere = elsewhere
        self._check = check
        self._owner = threading.Lock()  # held while a step's transaction is open
        self._owner_ident: int | None = None  # the thread of that step
        self._group: list[Call] | None = None  # the calls of the open transaction
        self._checkpointed = 0  # cursor.connection.total_changes at the last checkpoint
        self._yield_until = 0.0  # time.monotonic() until which calls go to the thread

    def send(self, call: Call) -> None:
        """Run ``call`` in this step's transaction (opening it if need be), or send it on."""
        group = self._group
        if group is None:
            group = self._open(call)
            if group is None:
                self._elsewhere(call)
                return
        elif self._owner_ident != threading.get_ident():
            self._elsewhere(call)  # another thread's step has the connection
            return
        try:
            call.box.append((True, call.fn(self._cursor)))
        except Exception as exc:
            call.box.append((False, exc))
        group.append(call)

    def _open(self, call: Call) -> list[Call] | None:
        """Open this step's transaction and schedule its commit; None if the lock is taken."""
        if self._yield_until and time.monotonic() < self._yield_until:
            return None  # another writer was active just now: wait our turn on the thread
        if not self._owner.acquire(blocking=False):
            return None
        cursor = self._cursor
        try:
            if self._check is not None:
                self._check(cursor)
            cursor.execute("BEGIN IMMEDIATE")
        except Exception:  # locked by another writer (or worse: the thread will say what)
            self._owner.release()
            if not self._thread_busy():  # another process writes: take turns with it
                self._yield_until = time.monotonic() + self.YIELD_FOR
            return None
        self._yield_until = 0.0
        self._owner_ident = threading.get_ident()
        group: list[Call] = []
        self._group = group
        waiter = call.waiter
        if isinstance(waiter, asyncio.Future):
            waiter.get_loop().call_soon(self._commit)  # after the callbacks of this step
        else:
            call.wake(self._commit)  # trio's run_sync_soon: the next batch of this run
        return group

    def _commit(self) -> None:
        """End of the step: commit, then answer every call of the transaction. A failed
        commit (or a statement that ended the transaction early) fails them all."""
        group, self._group = self._group, None
        assert group is not None
        cursor = self._cursor
        try:
            cursor.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            for call in group:
                call.box[:] = [(False, exc)]
        finally:
            self._owner_ident = None
            self._owner.release()
        resume(group)
        changes = cursor.connection.total_changes
        if changes - self._checkpointed >= self.CHECKPOINT_EVERY:
            self._checkpointed = changes
            self._elsewhere(Call(_checkpoint, _drop, None))

    def close(self) -> None:
        """Commit a transaction still open (its callers are answered), then close."""
        if self._group is not None:
            self._commit()
        self._cursor.connection.close()


def _checkpoint(conn: sqlite3.Cursor) -> None:
    """On the database thread: copy committed pages back into the file, without waiting."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error:
        logger.debug("a passive checkpoint failed", exc_info=True)


def _drop(fn: object) -> None:
    """The wake-up of a call nobody waits for."""
