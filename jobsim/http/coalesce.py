"""One ``send`` per response instead of two: the writes of one event-loop step, joined.

uvicorn writes a response's headers and its body with two ``transport.write`` calls, and each
is a ``send`` system call; on loopback a ``send`` also runs the receiver's TCP path, so the
pair was about a third of the service's CPU per ``POST /jobs``. :class:`CoalescingTransport`
holds what is written until the end of the current step (``loop.call_soon``), then writes it
at once: a response sent in one go (headers, then body, with no wait between) leaves in one
``send``, a streamed one still leaves as it is produced. ``close`` writes what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CoalescingTransport"]


class CoalescingTransport:
    """Wraps an ``asyncio.Transport``: ``write`` is deferred to the end of the loop step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if not held:
            self._loop.call_soon(self.flush)
        held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is held now (one ``send``)."""
        held = self._held
        if held:
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)
