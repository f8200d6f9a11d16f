"""The database thread wakes each event loop once per group commit, not once per call."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import anyio
import pytest

from jobsim.stores import _threads
from jobsim.stores._threads import ConnectionThreads

pytestmark = pytest.mark.anyio


async def test_a_group_of_calls_wakes_their_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _threads.waker()  # this backend's "run soon on this loop"
    wakes: list[object] = []

    def wake(fn: Callable[[], object]) -> object:
        wakes.append(fn)
        return real(fn)

    monkeypatch.setattr(_threads, "waker", lambda: wake)
    threads: ConnectionThreads[None] = ConnectionThreads(
        lambda: None,
        lambda conn: None,
        max_threads=1,
        name="test-db",
        group=lambda conn: contextlib.nullcontext(),
    )
    started, gate = threading.Event(), threading.Event()

    def first(conn: None) -> str:
        started.set()
        gate.wait(30)
        return "first"

    results: list[str] = []

    async def call(fn: Callable[[None], str]) -> None:
        results.append(await threads.call(fn))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, first)
        await anyio.to_thread.run_sync(started.wait, 30)  # the thread is busy with `first`
        for i in range(5):
            tg.start_soon(call, lambda conn, i=i: f"queued-{i}")
        await anyio.wait_all_tasks_blocked()  # all five queued behind it: one group
        gate.set()
    assert sorted(results) == ["first", *(f"queued-{i}" for i in range(5))]
    assert len(wakes) == 2  # one for `first`, one for the group of five
    for thread in threads.close():
        thread.join(5)
