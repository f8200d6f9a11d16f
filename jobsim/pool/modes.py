"""The two ways workers get jobs, chosen once when a pool is built.

* :class:`~jobsim.pool.push.PushMode` (default): the intake pushes jobs into a
  :class:`~jobsim.pool.dispatch.Dispatch`; workers take, claim, run.
* :class:`~jobsim.pool.pull.PullMode` (``lease=``): workers pull from a store shared between
  processes with ``claim_next`` and leases, renewed while they run; a sweeper requeues jobs
  of crashed processes.

Both offer the same small surface to the pool, :class:`Mode`.
"""

from __future__ import annotations

from typing import Protocol

import anyio.abc

from jobsim.domain import ClaimToken, Job
from jobsim.pool.crew import Worker

__all__ = ["Mode"]


class Mode(Protocol):
    """What the pool asks of its mode."""

    @property
    def depth(self) -> int:
        """Jobs waiting in this process for a worker."""
        ...

    def start(self, group: anyio.abc.TaskGroup) -> None:
        """Start helpers that run beside the workers, in their task group: they must end
        once the workers have (see :meth:`~jobsim.pool.crew.Crew.wait_done`)."""

    def wake_idle(self, n: int) -> int:
        """Wake up to ``n`` workers waiting for work so they re-check the crew's hold."""
        ...

    def close(self) -> None:
        """Shutdown step 3: no more deliveries."""

    async def retry_later(
        self, job: Job, worker_id: str, delay: float, error: str, token: ClaimToken | None
    ) -> None:
        """Run ``job`` again after ``delay`` (its failed attempt's error is ``error``; the
        claim it ends is ``token``)."""

    async def loop(self, worker: Worker) -> bool:
        """A worker's life (see :class:`~jobsim.pool.crew.WorkerLoop`)."""
        ...
