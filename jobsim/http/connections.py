"""Connection limits for uvicorn, so that many (or slow) clients get clear errors, not a hang.

uvicorn's own settings leave two gaps: a connection that never sends a request is never timed
out, nor is one that sends half a request (its keep-alive timer only starts after a response);
and its concurrency limit answers in plain text. :func:`guarded_protocol` builds an
``HttpToolsProtocol`` that closes both gaps and answers in JSON like the rest of the API:

* at most ``max_connections`` connections are served at once; requests beyond get a JSON
  ``503`` with ``Retry-After`` and ``Connection: close``; past :data:`HARD_LIMIT` times the
  limit a new connection is closed at once, so file descriptors stay bounded whatever the
  clients do;
* a new connection that sends nothing for ``idle_timeout`` seconds gets a JSON ``408`` and is
  closed (a client whose request was on its way reads the 408, so it knows nothing was done
  and can send it again); a kept-alive one is closed quietly, as uvicorn does;
* a request must arrive whole (headers and body) within ``request_timeout`` seconds of its
  first byte, else ``408`` and the connection is closed;
* a ``408`` ends the connection without a reset: the server stops reading requests, sends
  the answer and a FIN, and drops what the client still sends until it closes (at most
  ``request_timeout`` seconds, counted against the limit meanwhile). A plain close would
  answer the client's late bytes with a reset, which can destroy the 408 unread;
* a request uvicorn cannot parse (bad request line, header or ``Content-Length``) gets a JSON
  ``400`` instead of uvicorn's plain-text one.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import sys
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from jobsim.http.coalesce import CoalescingTransport
from jobsim.http.errors import error_response

__all__ = ["HARD_LIMIT", "GuardedProtocol", "guarded_protocol"]

logger = logging.getLogger("jobsim.http")

#: Past this many times ``max_connections``, new connections are closed without an answer.
HARD_LIMIT = 2


def raw_error(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response with a JSON error body."""
    body = json.dumps({"error": message}).encode()
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (set by :func:`guarded_protocol`)."""

    max_connections = 1000
    idle_timeout = 5.0
    request_timeout = 30.0
    _overloaded = False  # per subclass: log once when the limit is hit, once when it clears

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app = self.app
        self.app = self._guard
        self._request_timer: asyncio.TimerHandle | None = None
        self._refused = False  # a 408 was sent: what the client still sends is dropped

    # -- the connection limit ------------------------------------------------------------------

    def _over_limit(self) -> bool:
        return (
            len(self.connections) > self.max_connections or len(self.tasks) >= self.max_connections
        )

    async def _guard(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._over_limit():
            await self._app(scope, receive, send)
            return
        cls = type(self)
        if not cls._overloaded:
            cls._overloaded = True
            logger.warning(
                "connection limit reached (%d open, JOBSIM_MAX_CONNECTIONS=%d): answering 503 "
                "until connections close",
                len(self.connections),
                self.max_connections,
            )
        message = f"the service is at its connection limit ({self.max_connections}); retry shortly"
        headers = {"Retry-After": "1", "Connection": "close"}
        await error_response(503, message, headers=headers)(scope, receive, send)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_now = len(self.connections)
        if open_now > HARD_LIMIT * self.max_connections:
            transport.close()
            return
        # Headers and body in one send (uvicorn writes them separately): see .coalesce.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        cls = type(self)
        if cls._overloaded and open_now <= self.max_connections // 2:
            cls._overloaded = False
            logger.info("back under the connection limit (%d open)", open_now)
        # uvicorn starts this timer only after a response: start it for a new connection too
        # (the first byte cancels it, like uvicorn's own).
        self.timeout_keep_alive_task = self.loop.call_later(self.idle_timeout, self._no_request)

    def _no_request(self) -> None:
        self.timeout_keep_alive_task = None
        self._refuse(
            408,
            f"no request arrived within {self.idle_timeout:g} s of connecting "
            "(JOBSIM_IDLE_TIMEOUT); nothing was done: send it again on a new connection",
        )

    # -- whole requests in time ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._cancel_request_timer()
        self._request_timer = self.loop.call_later(self.request_timeout, self._too_slow)

    def on_message_complete(self) -> None:
        self._cancel_request_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _too_slow(self) -> None:
        self._request_timer = None
        if self.cycle is None or not self.cycle.response_started:
            message = (
                f"the request did not arrive whole within {self.request_timeout:g} s "
                "(JOBSIM_REQUEST_TIMEOUT)"
            )
            self._refuse(408, message)
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and end the connection without a reset (see the module doc)."""
        transport = self.transport
        if self._refused or transport.is_closing():
            return
        self._refused = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the half-sent request is abandoned, as on a close
            cycle.message_event.set()
        transport.write(raw_error(status, message))
        if not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()  # the client reads the answer, then EOF; its close ends ours
        except OSError:  # it hung up before the loop read its FIN: nobody is left to tell
            transport.close()
            return
        self.loop.call_later(max(self.request_timeout, self.idle_timeout), transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def shutdown(self) -> None:
        if self._refused:  # answered already: the server's shutdown need not wait for it
            self.transport.close()
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        # Called inside uvicorn's ``except httptools.HttpParserError``: name the parser's reason.
        reason = sys.exc_info()[1] or msg
        message = f"the request is not valid HTTP/1.1: {reason}"
        self.transport.write(raw_error(400, message))
        self.transport.close()


def guarded_protocol(
    max_connections: int, idle_timeout: float, request_timeout: float
) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` with these limits, for ``uvicorn.Config(http=...)``."""
    limits = {
        "max_connections": max_connections,
        "idle_timeout": idle_timeout,
        "request_timeout": request_timeout,
    }
    return type("GuardedProtocol", (GuardedProtocol,), limits)
