"""The database thread wakes each event loop once per group commit, not once per call."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import anyio
import pytest

from jobsim.stores._threads import ConnectionThreads

pytestmark = pytest.mark.anyio


async def test_a_group_of_calls_wakes_their_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ConnectionThreads._post  # posts a wake-up to a caller's loop
    wakes: list[object] = []

    def post(wake: Callable[[Callable[[], object]], object], fn: Callable[[], object]) -> None:
        wakes.append(fn)
        real(wake, fn)

    monkeypatch.setattr(ConnectionThreads, "_post", staticmethod(post))
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


def _held_statement() -> tuple[
    ConnectionThreads[None], Callable[[None], str], threading.Event, threading.Event, list[str]
]:
    """A database thread and a statement that starts, then waits for ``gate`` to finish."""
    threads: ConnectionThreads[None] = ConnectionThreads(
        lambda: None, lambda conn: None, max_threads=1, name="test-db"
    )
    started, gate = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow(conn: None) -> str:
        started.set()
        gate.wait(30)
        finished.append("written")
        return "written"

    return threads, slow, started, gate, finished


async def test_a_cancelled_caller_waits_for_its_statement_then_is_cancelled() -> None:
    threads, slow, started, gate, finished = _held_statement()

    async def caller(scope_box: list[anyio.CancelScope], seen: list[str]) -> None:
        with anyio.CancelScope() as scope:
            scope_box.append(scope)
            seen.append(await threads.call(slow))  # shielded: returns despite the cancel
            await anyio.sleep(30)  # the pending cancellation lands at the next checkpoint
        seen.append("cancelled after")

    scope_box: list[anyio.CancelScope] = []
    seen: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, scope_box, seen)
        await anyio.to_thread.run_sync(started.wait, 30)
        scope_box[0].cancel()
        await anyio.wait_all_tasks_blocked()
        assert seen == [] and finished == []  # still waiting for the statement
        gate.set()
    assert finished == ["written"]
    assert seen == ["written", "cancelled after"]
    for thread in threads.close():
        thread.join(5)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_plain_asyncio_cancellation_goes_on_once_the_statement_is_done() -> None:
    import asyncio

    threads, slow, started, gate, finished = _held_statement()

    task = asyncio.ensure_future(threads.call(slow))
    await anyio.to_thread.run_sync(started.wait, 30)
    task.cancel()
    await anyio.wait_all_tasks_blocked()
    assert not task.done() and finished == []  # still waiting for the statement
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == ["written"]
    for thread in threads.close():
        thread.join(5)
