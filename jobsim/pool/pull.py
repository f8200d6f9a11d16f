"""Pull mode, for stores shared between processes: workers claim from the store with leases.

There is no dispatch: each worker claims the oldest pending job with ``store.claim_next``
for ``lease`` seconds and, when there is none, waits in ``store.wait_for_jobs`` (LISTEN/NOTIFY
or a poll). A lease keeper renews every claim this pool holds every ``lease / 3``, for the
claim's whole life: from ``claim_next`` until its outcome is written, through a graceful
drain and its grace period. It also sweeps jobs whose lease lapsed elsewhere (a crashed
process) back to pending. A failed attempt that will be retried keeps its claim, renewed,
through the retry delay (so no other process runs it early, and a crash during the delay
hands it on after one lease), and is released when the delay ends or the pool shuts down.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from jobsim.domain import ClaimToken, Job
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
        #: job id -> token of every claim this pool holds (running, or waiting for a retry)
        self.held: dict[str, ClaimToken] = {}
        self._retrying: set[str] = set()  # held by a retry timer, not by a worker
        self.lost = 0  # claims whose lease this pool found lapsed while it still held them

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
                worker.cancel()
                woken += 1
        return woken

    def close(self) -> None:
        """Nothing to close: the store is the queue."""

    async def retry_later(
        self, job: Job, worker_id: str, delay: float, error: str, token: ClaimToken | None
    ) -> None:
        """Hold the claim (renewed) through ``delay`` or until shutdown, then hand it back."""
        outcomes = self.outcomes
        held, retrying = self.held, self._retrying
        job_id = job.id
        retrying.add(job_id)
        if token is not None:
            held[job_id] = token
        sleep = outcomes.backoff()

        async def later() -> None:
            try:
                await sleep(delay)
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        await outcomes.release(job_id, worker_id, error, token)
                    finally:
                        retrying.discard(job_id)
                        held.pop(job_id, None)

        outcomes.start_timer(later, f"jobsim retry {job_id}")

    async def loop(self, worker: Worker) -> bool:
        """Claim the oldest pending job; wait for news when idle."""
        crew = self.crew
        store = self.store
        clock = self.intake.clock
        tracer = self.intake.tracer
        worker_id = worker.id
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
                if worker.cancelled:
                    return False
                continue
            if tracer is not None:
                tracer(TraceEvent.TAKEN, now, job.id, worker_id)
            job_id, token = job.id, job.token
            if token is not None:
                self.held[job_id] = token
            try:
                await self.runner.run(job, worker, now, token)
            finally:  # the outcome is written (or a retry timer holds the claim now)
                if job_id not in self._retrying:
                    self.held.pop(job_id, None)
            if worker.cancelled:
                return False
        return crew.stopping

    async def keep_leases(self) -> None:
        """Renew this pool's claims and requeue jobs whose lease lapsed elsewhere, until the
        last worker has stopped (so a graceful drain keeps its leases to the end)."""
        async with anyio.create_task_group() as keeper:
            keeper.start_soon(self._renew_forever, name="jobsim lease renewer")
            await self.crew.wait_done()
            keeper.cancel_scope.cancel()

    async def _renew_forever(self) -> None:
        store = self.store
        lease = self.lease
        held = self.held
        every = lease / 3
        while True:
            await anyio.sleep(every)
            for job_id, token in list(held.items()):
                if await store.renew(job_id, token, lease):
                    continue
                if held.get(job_id) == token:  # not a finished claim from a stale snapshot
                    self.lost += 1
                    worker_logger.warning(
                        "%s: lost the lease on job %s (attempt %d): another worker may run "
                        "it; this claim's outcome will be refused",
                        token.worker_id,
                        job_id,
                        token.attempt,
                    )
            # On the store's clock, shared by all. After a server restart, holders get a few
            # renewal rounds (and their retries' backoff) to renew before anything is requeued.
            moved = await store.requeue_expired(settle=max(2 * lease, 5.0))
            if moved:
                logger.info("requeued %d job(s) whose lease expired", moved)
