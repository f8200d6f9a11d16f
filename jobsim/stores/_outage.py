"""Riding out a database outage: bounded retries, logged once per outage.

A statement that fails because the server is unreachable (restart, network, failover) is
tried again with exponential backoff (50 ms doubling to 1 s) until it succeeds or the outage
has lasted ``limit`` seconds; then :class:`~jobsim.stores.StoreUnavailable` says so, once, in
one line. The first failure after a long quiet spell is retried at once without a word: a
connection the server closed while idle fails once and a fresh one is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from jobsim.stores.errors import StoreUnavailable
from jobsim.stores.masking import scrub

__all__ = ["OutageGuard"]

T = TypeVar("T")
logger = logging.getLogger("jobsim.stores")


class OutageGuard:
    """Retry calls through an outage of the store named ``shown`` (a masked URL).

    ``retryable``: the exception types that mean "unreachable". ``url``: scrubbed from the
    error texts logged and raised. One guard per store object: every call of every task
    shares its outage state, so an outage is logged once however many calls are waiting.
    """

    def __init__(
        self,
        shown: str,
        url: str,
        limit: float,
        retryable: tuple[type[BaseException], ...],
    ) -> None:
        if not limit >= 0:
            raise ValueError(f"outage limit must be >= 0 seconds, got {limit!r}")
        self.shown = shown
        self.limit = limit
        self._url = url
        self._retryable = retryable
        self.since: float | None = None  # monotonic time the current outage began
        self.outages = 0  # how many outages this store has ridden out

    def _text(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}".strip().replace("\n", " "), self._url)

    async def run(self, call: Callable[[], Awaitable[T]], retried: list[int] | None = None) -> T:
        """``await call()``, retried through an outage. ``retried`` (optional) counts the
        retries, so a caller can tell that a write may already have happened once."""
        delay = 0.0  # the first retry goes at once: a fresh connection may be all it needs
        while True:
            try:
                result = await call()
            except self._retryable as exc:
                now = time.monotonic()
                if delay > 0 and self.since is None:
                    self.since = now
                    self.outages += 1
                    logger.warning(
                        "store %s unreachable (%s); retrying for up to %g s",
                        self.shown,
                        self._text(exc),
                        self.limit,
                    )
                if self.since is not None and now - self.since > self.limit:
                    raise StoreUnavailable(
                        f"store {self.shown} unreachable for {now - self.since:.0f} s "
                        f"(limit {self.limit:g} s): {self._text(exc)}"
                    ) from None
                if retried is not None:
                    retried.append(1)
                await anyio.sleep(delay)
                delay = min(max(delay * 2, 0.05), 1.0)
                continue
            if self.since is not None:
                logger.warning(
                    "store %s reachable again after %.1f s",
                    self.shown,
                    time.monotonic() - self.since,
                )
                self.since = None
            return result
