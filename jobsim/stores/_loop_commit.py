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
  database thread runs a passive checkpoint instead, and the loop holds its calls until it is
  done (they wait on the loop, answered right after). The pause is what keeps the log short:
  only a log copied to its very end starts over, and a checkpoint racing steady writes never
  reaches the end, so the log would grow for as long as the writes go on. The thread also
  flushes the log every quarter of that, beside the writes, so the checkpoint, and the pause,
  is short (about 5 ms here instead of 15);
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

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from jobsim.stores._threads import Call, ConnectionThreads, resume

__all__ = ["LoopCommit"]

logger = logging.getLogger("jobsim.stores")


class LoopCommit:
    """Runs calls on ``cursor`` (the loop's connection, opened with
    ``busy_timeout = 0`` and ``wal_autocheckpoint = 0``) in one transaction per event-loop step.

    Args:
        cursor: the loop's connection's one cursor.
        elsewhere: sends a call to the database thread (a checkpoint; a held call the loop
            cannot run after it).
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
        self._checkpointing = False  # a checkpoint is queued or running on the thread
        self._held: list[Call] = []  # calls taken while a checkpoint runs
        self._held_lock = threading.Lock()  # the checkpoint hands them back from its thread
        self._closed = False
        self._flushed = 0  # cursor.connection.total_changes at the last flush of the log
        self._log_fd: int | None = None  # the log, opened by the database thread to flush it

    def run_here(self, call: Call, soon: Callable[[Callable[[], object]], object]) -> bool:
        """Take ``call``: run it in this step's transaction, opening it (and queueing its
        commit with ``soon``, the loop's "run this callback next") if need be, or hold it while
        a checkpoint runs. Either way it is answered on the caller's loop. False, having taken
        nothing, when the lock is taken or another thread's step has the connection: the
        caller sends the call to the database thread."""
        group = self._group
        if group is None:
            if self._checkpointing and self._hold(call):
                return True
            group = self._open(soon)
            if group is None:
                return False
        elif self._owner_ident != threading.get_ident():
            return False  # another thread's step has the connection
        try:
            call.box.append((True, call.fn(self._cursor)))
        except Exception as exc:
            call.box.append((False, exc))
        group.append(call)
        return True

    def _hold(self, call: Call) -> bool:
        """Keep ``call`` until the running checkpoint is done (False: it just ended)."""
        with self._held_lock:
            if not self._checkpointing:
                return False
            self._held.append(call)
            return True

    def _open(self, soon: Callable[[Callable[[], object]], object]) -> list[Call] | None:
        """Open this step's transaction and queue its commit; None if the lock is taken."""
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
        soon(self._commit)  # asyncio: after the callbacks already queued; trio: next batch
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
            self._checkpointed = self._flushed = changes
            self._checkpointing = True  # calls are held until it is done
            self._elsewhere(Call(_checkpoint, self._checkpoint_done, None))
        elif changes - self._flushed >= self.CHECKPOINT_EVERY // 4:
            self._flushed = changes
            self._elsewhere(Call(self._flush_log, _ignore, None))

    def _flush_log(self, conn: sqlite3.Cursor) -> None:
        """On the database thread, beside the loop's writes: ``fdatasync`` the log. A
        checkpoint first flushes the log it copies, most of its time (about 10 ms for 2,000
        rows' worth here), and the loop's calls wait through it; flushed a quarter at a time
        beforehand, the checkpoint has only the last quarter left to flush."""
        fd = self._log_fd
        try:
            if fd is None:
                path = conn.execute("PRAGMA database_list").fetchone()[2]
                fd = self._log_fd = os.open(f"{path}-wal", os.O_RDONLY | os.O_CLOEXEC)
            os.fdatasync(fd)
        except OSError:
            logger.debug("flushing the log failed", exc_info=True)

    def close_log(self) -> None:
        """Close the descriptor the flushes use, once the database thread has stopped."""
        fd, self._log_fd = self._log_fd, None
        if fd is not None:
            os.close(fd)

    def _checkpoint_done(self, _resume: object) -> None:
        """On the database thread, once it is done with a checkpoint (or failed before it, when
        the file was removed): hand the calls held meanwhile back to their loops."""
        with self._held_lock:
            self._checkpointing = False
            held, self._held = self._held, []
        ConnectionThreads.post_to_loops(held, self._run_held)

    def _run_held(self, calls: list[Call]) -> None:
        """On the callers' loop, after a checkpoint: run the calls held meanwhile (the commit
        queued with the call's own wake-up, a thread-safe "soon": this path is rare)."""
        for call in calls:
            if self._closed:
                call.box[:] = [(False, RuntimeError("the SQLite store was closed"))]
                resume([call])
            elif not self.run_here(call, call.wake):
                self._elsewhere(call)

    def close(self) -> None:
        """Commit a transaction still open (its callers are answered), send held calls to the
        database thread (which serves what was queued before it stops), then close (the log's
        descriptor: :meth:`close_log`, after the thread)."""
        if self._group is not None:
            self._commit()
        with self._held_lock:
            self._closed = True
            self._checkpointing = False
            held, self._held = self._held, []
        for call in held:
            self._elsewhere(call)
        self._cursor.connection.close()


def _checkpoint(conn: sqlite3.Cursor) -> None:
    """On the database thread: copy committed pages back into the file, without waiting for
    anyone. This store holds its writes meanwhile, so unless another process writes, the
    checkpoint copies the whole log and the next write starts the log over."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error:
        logger.debug("a passive checkpoint failed", exc_info=True)


def _ignore(_resume: object) -> None:
    """The wake-up of a call nobody waits for."""
