"""Pull mode, for stores shared between processes: workers claim from the store with leases.

There is no dispatch: each worker claims the oldest pending job with ``store.claim_next``
for ``lease`` seconds and, when there is none, waits in ``store.wait_for_jobs`` (LISTEN/NOTIFY
or a poll). A lease keeper renews the leases of this pool's running jobs every ``lease / 3``
and sweeps jobs whose lease lapsed elsewhere (a crashed process) back to pending. A failed
attempt that will be retried keeps its claim through the retry delay, so no other process
runs it early, and is released when the delay ends.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from jobsim.domain import Job
from jobsim.events import TraceEvent
from jobsim.pool.crew import Crew, Worker
from jobsim.stores.base import LeasingJobStore

if TYPE_CHECKING:
    from jobsim.pool.intake import Intake
    from jobsim.pool.outcomes import Outcomes
    from jobsim.pool.runner import Runner

__all__ = ["PullMode"]

logger = logging.getLogger("jobsim.pool")
worker_logger = logging.getLogger("jobsim.worker")


class PullMode:
    """Claim with leases from a :class:`~jobsim.stores.LeasingJobStore`."""

    def __init__(
        self,
        store: LeasingJobStore,
        lease: float,
        poll_interval: float,
        crew: Crew,
        runner: Runner,
        outcomes: Outcomes,
        intake: Intake,
    ) -> None:
        self.store = store
        self.lease = lease
        self.poll_interval = poll_interval
        self.crew = crew
        self.runner = runner
        self.outcomes = outcomes
        self.intake = intake

    depth = 0  # the store is the queue: nothing waits in this process

    def start(self, group: anyio.abc.TaskGroup) -> None:
        """Run the lease keeper beside the workers (``group`` is cancelled at shutdown)."""
        group.start_soon(self.keep_leases, name="jobsim lease keeper")

    def wake_idle(self, n: int) -> int:
        """Interrupt up to ``n`` workers waiting for news (safe: they hold no job)."""
        woken = 0
        for worker in list(self.crew.live.values()):
            if woken >= n:
                break
            if worker.idle:
                worker.scope.cancel()
                woken += 1
        return woken

    def close(self) -> None:
        """Nothing to close: the store is the queue."""

    async def retry_later(self, job: Job, worker_id: str, delay: float, error: str) -> None:
        """Hold the claim through ``delay`` (or until shutdown), then hand it back."""
        store = self.store

        async def later() -> None:
            try:
                await anyio.sleep(delay)
            finally:
                with anyio.CancelScope(shield=True):
                    await store.release(job.id, error)

        self.outcomes.start_timer(later, f"jobsim retry {job.id}")

    async def loop(self, worker: Worker) -> bool:
        """Claim the oldest pending job; wait for news when idle."""
        crew = self.crew
        store = self.store
        clock = self.intake.clock
        tracer = self.intake.tracer
        worker_id = worker.id
        scope = worker.scope
        while not crew.hold:
            now = clock()
            job = await store.claim_next(worker_id, self.lease, at=now)
            if job is None:
                if crew.hold:
                    break
                worker.idle = True
                try:
                    await store.wait_for_jobs(self.poll_interval)
                finally:
                    worker.idle = False
                if scope.cancel_called:
                    return False
                continue
            if tracer is not None:
                tracer(TraceEvent.TAKEN, now, job.id, worker_id)
            await self.runner.run(job, worker_id, now)
            if scope.cancel_called:
                return False
        return crew.stopping

    async def keep_leases(self) -> None:
        """Renew the leases of running jobs and requeue jobs whose lease lapsed elsewhere."""
        store = self.store
        lease = self.lease
        running = self.runner.running
        every = lease / 3
        while True:
            await anyio.sleep(every)
            for job_id, worker_id in list(running.items()):
                if not await store.renew(job_id, worker_id, lease):
                    worker_logger.warning("%s: lost the lease on job %s", worker_id, job_id)
            moved = await store.requeue_expired()  # on the store's clock, shared by all
            if moved:
                logger.info("requeued %d job(s) whose lease expired", moved)
