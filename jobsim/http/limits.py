"""Limits on what one request may send, enforced before anything parses it."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobsim.http.errors import error_response
from jobsim.http.models import MAX_BODY_BYTES

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes, before anything parses them.

    A declared ``Content-Length`` is checked up front; a body without one (chunked) is
    buffered up to the limit and replayed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "Content-Length must be an integer")(scope, receive, send)
                return
            if size > self.limit:
                await self._too_big()(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.limit:
                await self._too_big()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay: Iterator[Message] = iter(messages)

        async def replaying() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replaying, send)

    def _too_big(self) -> ASGIApp:
        # Built only when needed: a JSON response per request would cost more than the check.
        kib = self.limit / 1024
        return error_response(
            413, f"request body is larger than the limit of {self.limit} bytes ({kib:g} KiB)"
        )
