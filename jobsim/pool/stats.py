"""What a pool did: counters kept by the outcome recorder, and the report built from them.

:class:`PoolStats` is the one place the numbers live; :class:`ShutdownReport` (what
``shutdown()`` returns) and the service's ``/health`` and ``/metrics`` are read from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PoolStats", "ShutdownReport"]


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What :meth:`WorkerPool.shutdown` left behind.

    Attributes:
        completed: jobs this pool completed over its life.
        failed: jobs this pool failed for good (last attempt raised or timed out).
        pending: jobs pending in the store when the pool stopped (queued and never run, waiting
            for a retry, or put back after an interruption). Nothing is lost: a later pool can
            run them.
        interrupted: running jobs cancelled by the shutdown deadline and put back to pending.
        duplicates_skipped: deliveries whose claim lost (the job was already taken).
        retried: failed attempts that were followed by another attempt.
        cancelled: jobs cancelled through :meth:`WorkerPool.cancel`.
        drained: whether every queued job ran (``drain=True`` and no deadline hit).
        timed_out: whether the timeout cut the drain short.
        elapsed: seconds the shutdown took on the pool's clock.
        refused: outcomes the store refused because this pool's claim was no longer current
            (its lease lapsed and another worker took the job over): never counted as
            completed or failed here; the current holder's outcome is the one that counts.
    """

    completed: int
    failed: int
    pending: int
    interrupted: int
    duplicates_skipped: int
    retried: int
    cancelled: int
    drained: bool
    timed_out: bool
    elapsed: float
    refused: int = 0


class PoolStats:
    """Running totals of a pool's outcomes, plus jobs finished per worker.

    Plain attributes, incremented in place on the hot path (no locks: one event loop).
    """

    __slots__ = (
        "cancelled",
        "completed",
        "duplicates_skipped",
        "failed",
        "interrupted",
        "processed",
        "refused",
        "retried",
    )

    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.interrupted = 0
        self.duplicates_skipped = 0
        self.retried = 0
        self.cancelled = 0
        #: outcomes the store refused: the claim was no longer this pool's (fencing)
        self.refused = 0
        #: worker id -> attempts it finished (completed, failed or retried)
        self.processed: dict[str, int] = {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.counters().items())
        return f"PoolStats({fields})"

    def counters(self) -> dict[str, int]:
        """The totals as a dict (``completed``, ``failed``, ...), e.g. for ``/health``."""
        return {
            "completed": self.completed,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "duplicates_skipped": self.duplicates_skipped,
            "retried": self.retried,
            "cancelled": self.cancelled,
        }

    def report(
        self, *, pending: int, drained: bool, timed_out: bool, elapsed: float
    ) -> ShutdownReport:
        """A :class:`ShutdownReport` of these totals and what the caller saw at the end."""
        fields: dict[str, Any] = self.counters()
        return ShutdownReport(
            pending=pending,
            drained=drained,
            timed_out=timed_out,
            elapsed=elapsed,
            refused=self.refused,
            **fields,
        )
