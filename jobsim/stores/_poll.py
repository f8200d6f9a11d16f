"""Waiting for pending jobs in a store that cannot notify other processes (SQLite): poll, but
with one prober for all the waiting workers of a store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["PendingPoll"]


class PendingPoll:
    """``wait(timeout)`` returns once a job is pending (or after ``timeout`` seconds).

    However many tasks wait, one of them probes (``count_pending()`` every ``interval``
    seconds) for the others, and a probe that finds pending jobs hands out about as many
    tickets as there are jobs, each letting one waiter go: an idle pool costs one query per
    ``interval`` and no busy event loop.
    """

    def __init__(self, count_pending: Callable[[], Awaitable[int]], interval: float) -> None:
        self._count_pending = count_pending
        self.interval = interval
        self._tickets, self._probing = 0, False
        self._news: anyio.Event | None = None

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            while not self._take_ticket():
                if self._probing:
                    if self._news is None:
                        self._news = anyio.Event()
                    await self._news.wait()
                else:
                    await self._probe_until_news()

    def _take_ticket(self) -> bool:
        if self._tickets > 0:
            self._tickets -= 1
            return True
        return False

    async def _probe_until_news(self) -> None:
        self._probing = True
        try:
            while True:
                found = await self._count_pending()
                if found:
                    self._tickets = found
                    return
                await anyio.sleep(self.interval)
        finally:  # news, or this prober gave up (its timeout): wake the others either way
            self._probing = False
            news, self._news = self._news, None
            if news is not None:
                news.set()
