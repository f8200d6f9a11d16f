"""LISTEN/NOTIFY for idle workers: one thread per store, reconnecting after an outage."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from jobsim.stores._threads import waker

__all__ = ["Listener"]

logger = logging.getLogger("jobsim.stores.postgres")


class Listener:
    """One thread LISTENing on one connection; wakes every task waiting in any event loop.

    When the connection drops (a server restart, an outage) the thread reconnects with
    backoff (0.1 s doubling to 2 s), logging once when it is lost and once when it is back,
    and then wakes every waiter: jobs may have arrived while nobody listened. Meanwhile
    waiters fall back to their timeouts (polling).
    """

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._waiters: dict[anyio.Event, Callable[[Callable[[], object]], object]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.generation = 0  # notifications seen so far
        self.connections = 0  # successful LISTENs (> 1: it reconnected)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"jobsim-listen {channel}")
        self._thread.daemon = True
        self._thread.start()

    def _listen(self) -> None:
        delay = 0.1
        lost = False
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self.connections += 1
                    if lost:
                        logger.warning("LISTEN %s re-established", self._channel)
                        lost = False
                        self._wake_all()  # what was added meanwhile went unannounced
                    self._ready.set()
                    delay = 0.1
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.25, stop_after=1):
                            self._wake_all()
            except Exception as exc:
                if self._stop.is_set():
                    break
                if not lost:
                    lost = True
                    logger.warning(
                        "LISTEN %s lost (%s: %s); reconnecting, idle workers poll meanwhile",
                        self._channel,
                        type(exc).__name__,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    )
                self._ready.set()
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
        self._ready.set()

    def _wake_all(self) -> None:
        with self._lock:
            self.generation += 1
            waiters, self._waiters = self._waiters, {}
        for event, wake in waiters.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed
                wake(event.set)

    async def wait(self, timeout: float, seen: int | None = None) -> None:
        """Wait for the next notification (or ``timeout``); return at once if one came
        after generation ``seen``."""
        if not self._ready.is_set():
            await anyio.to_thread.run_sync(self._ready.wait, 5.0)
        event = anyio.Event()
        with self._lock:
            if seen is not None and self.generation != seen:
                return
            self._waiters[event] = waker()
        try:
            with anyio.move_on_after(timeout):
                await event.wait()
        finally:
            with self._lock:
                self._waiters.pop(event, None)

    def stop(self) -> None:
        self._stop.set()
