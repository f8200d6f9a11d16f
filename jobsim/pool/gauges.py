"""What a pool is doing, read-only: its state, size, queue, running jobs and counters.

:class:`~jobsim.pool.core.WorkerPool` shows them through :class:`PoolGauges`, its base class,
so the façade keeps the actions (start, submit, resize, cancel, shutdown) and this part keeps
the readings that ``repr``, the service's ``/health`` and ``/metrics`` and the lab are built
from. Nothing here changes the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.pool.intake import State
from jobsim.pool.stats import PoolStats

if TYPE_CHECKING:
    from jobsim.pool.crew import Crew
    from jobsim.pool.intake import Intake
    from jobsim.pool.running import Running

__all__ = ["PoolGauges"]


class PoolGauges:
    """The readings of a :class:`~jobsim.pool.core.WorkerPool` (see the module docstring)."""

    capacity: int
    #: what this pool did so far (read by ShutdownReport, /health and /metrics)
    stats: PoolStats
    _crew: Crew
    _intake: Intake
    _run: Running | None

    @property
    def state(self) -> State:
        """``new``, ``running``, ``closing`` (shutdown in progress) or ``closed``."""
        return self._intake.state

    @property
    def workers(self) -> int:
        """How many workers the pool aims for (the last size asked for)."""
        return self._crew.target

    @property
    def live_workers(self) -> int:
        """Worker tasks running now (above :attr:`workers` while surplus ones finish a job)."""
        return len(self._crew.live)

    @property
    def worker_ids(self) -> list[str]:
        """Every worker id this pool has started (or will start), in order."""
        return self._crew.ids

    @property
    def processed(self) -> dict[str, int]:
        """Attempts each worker finished: ``{worker_id: count}``."""
        return self.stats.processed

    @property
    def queue_depth(self) -> int:
        """Jobs waiting in the dispatch (not yet taken by a worker)."""
        return 0 if self._run is None else self._run.mode.depth

    @property
    def running(self) -> dict[str, str]:
        """Jobs whose handler is running now: ``{job_id: worker_id}`` (a copy)."""
        return {} if self._run is None else self._crew.running()

    @property
    def busy(self) -> int:
        """Workers currently running a handler."""
        return 0 if self._run is None else len(self._crew.running())

    def health(self) -> dict[str, Any]:
        """Gauges and totals for a health endpoint: ``status`` (the state), ``workers``,
        ``live_workers``, ``busy``, ``queue_depth``, ``capacity`` and ``totals`` (the
        :class:`PoolStats` counters)."""
        return {
            "status": self.state,
            "workers": self.workers,
            "live_workers": self.live_workers,
            "busy": self.busy,
            "queue_depth": self.queue_depth,
            "capacity": self.capacity,
            "totals": self.stats.counters(),
        }

    # Counters, kept readable as attributes of the pool.
    completed = property(lambda self: self.stats.completed, doc="Jobs completed so far.")
    failed = property(lambda self: self.stats.failed, doc="Jobs failed for good so far.")
    interrupted = property(lambda self: self.stats.interrupted, doc="Jobs interrupted.")
    duplicates_skipped = property(
        lambda self: self.stats.duplicates_skipped, doc="Deliveries whose claim lost."
    )
    retried = property(lambda self: self.stats.retried, doc="Attempts followed by another.")
    cancelled = property(lambda self: self.stats.cancelled, doc="Jobs cancelled so far.")
