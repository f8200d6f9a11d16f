"""The SQLite store's statements run on the event loop's own thread while the file's write lock
is free, one transaction per loop step; a lock held elsewhere sends them to the database
thread, so the loop never waits for it; checkpoints happen off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from jobsim import Job, JobStatus
from jobsim.stores import _loop_commit
from jobsim.stores._loop_commit import LoopCommit
from jobsim.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.anyio


def _open_files() -> set[str]:
    """What this process's file descriptors point to."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            names.add(os.readlink(f"/proc/self/fd/{fd}"))
    return names


def _database_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("jobsim-sqlite")]


async def test_a_store_alone_on_its_file_runs_each_jobs_statements_on_the_loop(
    tmp_path: Path,
) -> None:
    """Add, claim and complete never need the database thread while nobody else holds the
    lock; a statement whose work grows with the table (the counts) goes there."""
    before = _database_threads()
    store = await SQLiteJobStore.open(tmp_path / "jobs.db")
    try:
        jobs = [Job(payload={"i": i}) for i in range(50)]
        async with anyio.create_task_group() as tg:  # many callers in the same loop steps
            for job in jobs:
                tg.start_soon(store.add, job)
        claimed = await store.claim_next("w", lease=30)
        assert claimed is not None
        await store.complete(claimed.id, "ok", token=claimed.token)
        assert (await store.get(claimed.id)).status is JobStatus.COMPLETED
        assert _database_threads() == before  # no database thread was needed so far
        assert (await store.counts())[JobStatus.PENDING] == 49
        assert len(_database_threads()) == len(before) + 1
    finally:
        await store.close()


async def test_a_lock_held_by_another_connection_never_blocks_the_loop(tmp_path: Path) -> None:
    """Another connection holds the write lock until the loop has ticked five times since the
    store's ``add`` began (or gives up after ~10 s): the lock is released by the ticks only if
    the loop kept running while the add waited (the call went to the database thread)."""
    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)  # busy_timeout 30 s: a loop waiting would freeze
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held by "another process"
    ticks = 0
    ticked = anyio.Event()
    released = threading.Event()
    outcome: list[str] = []

    def hold_until_five_ticks(since: int) -> None:
        for _ in range(1000):  # ~10 s at most: then the assertion below fails, not the run
            if ticks - since >= 5:
                outcome.append("ticks")
                break
            released.wait(0.01)
        else:
            outcome.append("gave up")
        holder.execute("COMMIT")
        released.set()

    async def tick() -> None:
        nonlocal ticks
        while not released.is_set():
            ticks += 1
            ticked.set()
            await anyio.sleep(0.005)

    job = Job(payload={"k": 1})
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            await ticked.wait()
            threading.Thread(target=hold_until_five_ticks, args=(ticks,), daemon=True).start()
            await store.add(job)
            assert released.is_set()  # answered only once the lock was free
        assert outcome == ["ticks"]
        assert (await store.get(job.id)).status is JobStatus.PENDING
    finally:
        holder.close()
        await store.close()


async def test_checkpoints_copy_the_log_into_the_file_while_the_store_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints; the database thread does, every
    ``CHECKPOINT_EVERY`` rows changed: the database file itself grows, not only its log."""
    monkeypatch.setattr(LoopCommit, "CHECKPOINT_EVERY", 100)
    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)
    try:
        empty = path.stat().st_size
        for i in range(400):
            await store.add(Job(payload={"i": i, "pad": "x" * 200}))
        with anyio.fail_after(30):
            while path.stat().st_size <= empty:  # the thread's checkpoint
                await anyio.sleep(0.01)
        assert path.stat().st_size > empty + 50_000
    finally:
        await store.close()


async def test_the_log_stays_bounded_under_a_steady_stream_of_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log that is written to all the time would only ever grow: a checkpoint racing the
    writes never catches up with its end, so the log never starts over. The store holds its
    writes while the database thread checkpoints, and the log stays a few checkpoints long
    while 6,000 jobs go through without a pause (under 1 MB here; 37 MB before)."""
    monkeypatch.setattr(LoopCommit, "CHECKPOINT_EVERY", 300)
    path = tmp_path / "jobs.db"
    log = tmp_path / "jobs.db-wal"
    store = await SQLiteJobStore.open(path)
    largest = 0

    async def submitter(k: int) -> None:
        for i in range(300):
            await store.add(Job(payload={"k": k, "i": i}))

    async def worker(name: str) -> None:
        done = 0
        while done < 600:
            job = await store.claim_next(name, lease=30)
            if job is None:
                await anyio.lowlevel.checkpoint()
                continue
            await store.complete(job.id, None, token=job.token)
            done += 1

    async def watch() -> None:
        nonlocal largest
        while True:
            largest = max(largest, log.stat().st_size if log.exists() else 0)
            await anyio.sleep(0.002)

    try:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                async with anyio.create_task_group() as load:
                    for k in range(20):
                        load.start_soon(submitter, k)
                    for w in range(10):
                        load.start_soon(worker, f"w{w}")
                tg.cancel_scope.cancel()
        counts = await store.counts()
        assert counts[JobStatus.COMPLETED] == 6000
        assert largest < 4_000_000, f"the log grew to {largest:,} bytes"
    finally:
        await store.close()


async def test_calls_held_during_a_checkpoint_are_answered_after_it_and_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the database thread checkpoints, the loop holds new calls (none goes to the
    thread, none is lost): they run once the checkpoint is done, and a store closed
    meanwhile hands them to the thread, which stores them before it stops."""
    monkeypatch.setattr(LoopCommit, "CHECKPOINT_EVERY", 10)
    started, go_on = threading.Event(), threading.Event()
    checkpoint = _loop_commit._checkpoint

    def slow_checkpoint(conn: sqlite3.Cursor) -> None:
        started.set()
        go_on.wait(10)
        checkpoint(conn)

    monkeypatch.setattr(_loop_commit, "_checkpoint", slow_checkpoint)
    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)
    first = [Job(payload={"i": i}) for i in range(10)]
    for job in first:  # ten rows changed: a checkpoint starts on the thread
        await store.add(job)
    await anyio.to_thread.run_sync(started.wait, 10)
    held = Job(payload={"held": 1})
    answered = anyio.Event()

    async def add_held() -> None:
        await store.add(held)
        answered.set()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(add_held)
            for _ in range(20):
                await anyio.sleep(0.005)
            assert not answered.is_set()  # held while the checkpoint runs
            go_on.set()
    assert (await store.get(held.id)).status is JobStatus.PENDING

    go_on.clear()
    started.clear()
    async with anyio.create_task_group() as tg:  # one group commit: the next checkpoint
        for i in range(10):
            tg.start_soon(store.add, Job(payload={"j": i}))
    await anyio.to_thread.run_sync(started.wait, 10)
    late = Job(payload={"late": 1})
    with anyio.fail_after(30):  # a held call nobody answers would hang here
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.add, late)
            await anyio.sleep(0.02)
            threading.Timer(0.05, go_on.set).start()
            await store.close()  # the held add goes to the thread, answered before it stops
    reopened = await SQLiteJobStore.open(path)
    try:
        assert (await reopened.get(late.id)).status is JobStatus.PENDING
        assert (await reopened.counts())[JobStatus.PENDING] == 22
    finally:
        await reopened.close()


async def test_the_log_is_flushed_beside_the_writes_and_its_descriptor_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database thread flushes the log every quarter of ``CHECKPOINT_EVERY`` rows (so
    a checkpoint's pause is short) through a descriptor of its own, closed with the store."""
    monkeypatch.setattr(LoopCommit, "CHECKPOINT_EVERY", 40)
    flushed: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (flushed.append(fd), real(fd)))
    path = tmp_path / "jobs.db"
    store = await SQLiteJobStore.open(path)
    for i in range(30):  # three flushes' worth, short of a checkpoint
        await store.add(Job(payload={"i": i}))
    with anyio.fail_after(10):
        while len(flushed) < 2:
            await anyio.sleep(0.01)
    log = os.readlink(f"/proc/self/fd/{flushed[0]}")
    assert log == f"{path}-wal"
    await store.close()
    # (SQLite removes the log at the last close: a descriptor left open reads "... (deleted)")
    assert not [name for name in _open_files() if name.startswith(log)]


def test_loops_in_two_threads_share_one_store(tmp_path: Path) -> None:
    """The loop's connection belongs to one thread's step at a time; the other thread's calls
    go to the database thread meanwhile. Nothing is lost either way."""
    store = SQLiteJobStore(tmp_path / "jobs.db")
    errors: list[BaseException] = []

    def adder(prefix: str) -> None:
        async def add_all() -> None:
            await asyncio.gather(*(store.add(Job(id=f"{prefix}{i}")) for i in range(300)))

        try:
            asyncio.run(add_all())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=adder, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    async def check() -> None:
        try:
            assert (await store.counts())[JobStatus.PENDING] == 600
        finally:
            await store.close()

    asyncio.run(check())
