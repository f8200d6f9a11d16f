"""Push mode: the intake puts jobs into the dispatch, workers take them, claim, run.

Taking the next job is one step of :meth:`PushMode.loop`: ``dispatch.get_nowait`` first (no
checkpoint when a job is waiting), ``await dispatch.get`` only when the worker must wait
anyway. A policy that changes *who runs next* (priorities, per-worker prefetch, per-type
limits) is a :class:`~jobsim.pool.dispatch.Dispatch`, not a change here.

Speed: every await on the stream is a scheduling checkpoint, so the loop awaits only when it
must, and yields on its own every ``YIELD_EVERY`` back-to-back jobs so that a busy worker
cannot starve the others. What a job needs is decided once per worker, not per job: on the
FIFO channel the loop pops the deque itself; an untraced pool on a store that never waits
records a completion inline; the handler of a job without a timeout is awaited right here.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
from anyio import EndOfStream, WouldBlock

from jobsim.clock import native_sleep
from jobsim.domain import ClaimToken, InvalidTransition, Job, JobStatus
from jobsim.events import TraceEvent
from jobsim.pool.crew import Crew, Worker
from jobsim.pool.dispatch import ChannelDispatch, Dispatch
from jobsim.stores.base import JobStore, NonBlockingJobStore

if TYPE_CHECKING:
    from jobsim.pool.intake import Intake
    from jobsim.pool.outcomes import Outcomes
    from jobsim.pool.runner import Runner

__all__ = ["YIELD_EVERY", "PushMode"]

YIELD_EVERY = 64
_TAKEN = TraceEvent.TAKEN
_STARTED = TraceEvent.STARTED


class PushMode:
    """Fan-out over a :class:`Dispatch` (the shared bounded channel by default)."""

    lease: float | None = None

    def __init__(
        self,
        store: JobStore,
        dispatch: Dispatch,
        crew: Crew,
        runner: Runner,
        outcomes: Outcomes,
        intake: Intake,
    ) -> None:
        self.store = store
        self.dispatch = dispatch
        self.crew = crew
        self.runner = runner
        self.outcomes = outcomes
        self.intake = intake
        self._claim_nowait = store.claim_nowait if isinstance(store, NonBlockingJobStore) else None
        #: a limited dispatch wants every job it handed out back once it has run
        self._done = getattr(dispatch, "done", None)

    @property
    def depth(self) -> int:
        return self.dispatch.depth

    def start(self, group: anyio.abc.TaskGroup) -> None:
        """Nothing runs beside the workers in push mode."""

    def wake_idle(self, n: int) -> int:
        return self.dispatch.wake(n)

    def close(self) -> None:
        """No more deliveries: workers take what is queued, then see the end."""
        self.dispatch.close()

    async def retry_later(
        self, job: Job, worker_id: str, delay: float, error: str, token: ClaimToken | None
    ) -> None:
        """Back to pending now; delivered again after ``delay`` unless the pool stops first
        (then the job simply stays pending in the store)."""
        outcomes = self.outcomes
        await outcomes.release(job.id, worker_id, error, token)
        intake = self.intake
        sleep = outcomes.backoff()

        async def later() -> None:
            await sleep(delay)
            if intake.is_open:
                await intake.redeliver(job)

        outcomes.start_timer(later, f"jobsim retry {job.id}")

    async def _expired_now(self, job: Job, now: float) -> bool:
        """Whether the claim just refused ``job`` because its ttl had passed (the store moved
        it to ``expired`` at ``now``), rather than because another delivery won it."""
        if self._claim_nowait is None:  # the taken object is a copy: ask the store
            job = await self.store.get(job.id)
        return job.status is JobStatus.EXPIRED and job.finished == now

    async def loop(self, worker: Worker) -> bool:
        """Take, claim, run until the crew holds (see :class:`~jobsim.pool.crew.WorkerLoop`)."""
        crew = self.crew
        dispatch = self.dispatch
        get_nowait = dispatch.taker(worker.id)
        store = self.store
        clock = self.intake.clock
        tracer = self.intake.tracer
        claim_nowait = self._claim_nowait
        runner = self.runner
        run = runner.run
        handler, raised = runner.handler, runner.raised
        plain = runner.plain  # (traced or not: the loop traces the start itself)
        outcomes = self.outcomes
        complete_nowait, complete = outcomes.complete_nowait, outcomes.complete
        # Outcomes.complete_nowait's common case, inlined below: an untraced pool on a store
        # that never waits (decided here, once per worker), and no cancel asked for.
        store_complete = outcomes.store_complete_nowait
        quiet = store_complete is not None and tracer is None and not outcomes.debug
        cancelling, stats = outcomes.cancelling, outcomes.stats
        processed = stats.processed
        skipped = outcomes.skipped
        done = self._done
        inline = done is None and plain  # Runner.run's common case, inlined below
        # The FIFO channel's queue, popped here without a call while it holds jobs (see
        # ChannelDispatch); for any other dispatch it stays empty and its taker takes.
        channel = dispatch if type(dispatch) is ChannelDispatch else None
        queued = channel.jobs if channel is not None else deque[Job]()
        producers = channel.producers if channel is not None else ()
        admit = channel.admit if channel is not None else get_nowait
        worker_id = worker.id
        first_claim = ClaimToken(worker_id, 1)  # every first attempt's token: no allocation
        sleep = native_sleep()  # the backend's own: anyio's checkpoint looks the backend up
        # The FIFO channel's park, without ChannelDispatch.get's coroutine: a worker parks
        # only when get_nowait raised WouldBlock (open and empty), which is all get tests.
        park = channel.getters.wait if channel is not None else None
        requeue = queued.appendleft
        # The clock reading that stamped the last completion, while nothing has run since (no
        # await): it stamps the next claim too, one clock call fewer per job. Time cannot have
        # moved for anyone else: the next job was queued before it, and on a virtual clock
        # it is the very value a new reading would give.
        reading: float | None = None
        back_to_back = 0
        while not crew.hold:
            try:
                if queued:
                    job = queued.popleft()
                    if producers:
                        admit()
                else:
                    job = get_nowait()
                back_to_back += 1
                if back_to_back >= YIELD_EVERY:
                    back_to_back = 0
                    reading = None
                    await sleep(0)  # let the others run (fairness): a checkpoint, as anyio's
                    if crew.stopping:
                        if done is not None:
                            done(job)
                        return True  # taken but not run: it stays pending in the store
            except WouldBlock:
                back_to_back = 0
                reading = None
                try:
                    waited = await (dispatch.get(worker_id) if park is None else park(requeue))
                except EndOfStream:
                    return True
                if waited is None:
                    continue  # woken without a job: re-check the hold
                job = waited
            except EndOfStream:
                return True
            now = clock() if reading is None else reading
            reading = None
            job_id = job.id
            if tracer is not None:
                tracer(_TAKEN, now, job_id, worker_id)
            claimed: Job | None
            if claim_nowait is not None:
                claimed = claim_nowait(job_id, worker_id, at=now)
            elif await store.claim(job_id, worker_id, at=now):
                claimed = await store.get(job_id)
            else:
                claimed = None
            if claimed is None:
                if job.ttl is not None and await self._expired_now(job, now):
                    self.outcomes.expired(job_id, worker_id, now)
                else:
                    skipped(job_id, worker_id, now)
                if done is not None:
                    done(job)
                continue
            attempts = claimed.attempts
            token = first_claim if attempts == 1 else ClaimToken(worker_id, attempts)
            if inline and claimed.timeout is None:
                # Runner.run's common case, inlined: one coroutine fewer per job.
                if tracer is not None:
                    tracer(_STARTED, now, job_id, worker_id)
                worker.job_id = job_id
                try:
                    result = await handler(claimed)
                except BaseException as exc:
                    worker.job_id = None
                    await raised(claimed, worker_id, token, exc, None)
                else:
                    worker.job_id = None
                    if quiet and not cancelling and store_complete is not None:
                        try:
                            store_complete(job_id, result, at=(reading := clock()), token=token)
                        except InvalidTransition as exc:
                            outcomes.refused(job_id, worker_id, exc)
                        else:
                            stats.completed += 1
                            processed[worker_id] += 1
                    elif not complete_nowait(job_id, worker_id, result, token):
                        await complete(job_id, worker_id, result, token)
            elif done is None:
                await run(claimed, worker, now, token)
            else:
                try:
                    await run(claimed, worker, now, token)
                finally:
                    done(job)
            if worker.cancelled:
                return False  # a cancel request hit this scope: continue in a fresh one
        return crew.stopping
