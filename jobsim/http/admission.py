"""Backpressure without half-accepted jobs: reserve a slot in the pool's channel first.

``POST /jobs`` first *reserves* a slot (:class:`Admission`), waiting at most ``wait``
seconds; only then does it store and deliver the job. A reservation guarantees the delivery
cannot block, so the submit is shielded from cancellation and a ``201`` always means "stored
and queued". A ``503`` (with ``Retry-After``) means the job was never stored.
"""

from __future__ import annotations

import anyio

from jobsim.pool import WorkerPool

__all__ = ["Admission"]


class Admission:
    """Reserves slots in the pool's channel so a submit never blocks.

    Invariant (when this app is the pool's only producer): ``queue_depth + reserved <=
    capacity``, so a reserved submit's ``send_nowait`` always finds room. Waiters queue FIFO
    on a lock; only the head waits for room, woken by the tracer's ``taken`` event (or every
    ``poll`` seconds if the pool has no tracer wired to us).
    """

    def __init__(self, pool: WorkerPool, wait: float, poll: float = 0.01) -> None:
        self.pool = pool
        self.wait = wait
        self.poll = poll
        self.reserved = 0
        self._waiters = 0
        self._lock: anyio.Lock | None = None
        self._room: anyio.Event | None = None

    @property
    def waiting(self) -> int:
        """POSTs waiting for room now."""
        return self._waiters

    def _has_room(self) -> bool:
        return self.pool.queue_depth + self.reserved < self.pool.capacity

    def wake(self) -> None:
        """A slot may have freed up (a worker took a job)."""
        if self._room is not None:
            self._room.set()

    async def acquire(self) -> bool:
        """Reserve a slot within ``wait`` seconds; False if none freed up in time."""
        if self._waiters == 0 and self._has_room():
            self.reserved += 1
            return True
        if self._lock is None:
            self._lock = anyio.Lock()
        got = False
        self._waiters += 1
        try:
            with anyio.move_on_after(self.wait):
                async with self._lock:
                    while not self._has_room():
                        self._room = anyio.Event()
                        with anyio.move_on_after(self.poll):
                            await self._room.wait()
                        self._room = None
                    self.reserved += 1
                    got = True  # kept even if a cancellation lands while the lock is released
        finally:
            self._waiters -= 1
        return got

    def release(self) -> None:
        """The reserved slot has been used (or given up)."""
        self.reserved -= 1
