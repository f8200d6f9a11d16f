"""The crew: the worker tasks, how many there are, and how each one stops.

Every worker runs its mode's loop (take the next job, claim it, run it) inside a cancel scope
of its own; ``cancel(job_id)`` cancels that scope to stop the handler, and the worker carries
on in a fresh one. The crew grows by starting tasks at once and shrinks *between* jobs: a
surplus worker exits after the job it runs (never interrupting it), an idle one is woken by
its mode and exits at once. Loops read one flag per job, :attr:`Crew.hold`, which is set when
the pool stops taking jobs or has more workers than its target.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.abc

from jobsim.events import TraceEvent, Tracer
from jobsim.pool.stats import PoolStats

__all__ = ["Crew", "Worker", "WorkerLoop"]

worker_logger = logging.getLogger("jobsim.worker")


class Worker:
    """One worker task's state."""

    __slots__ = ("cancelled", "id", "idle", "job_id", "scope")

    def __init__(self, worker_id: str) -> None:
        self.id = worker_id
        self.scope = anyio.CancelScope()
        self.idle = False  # waiting for work in a way its mode can interrupt safely
        #: the job whose handler it runs now (None between handlers): a plain attribute,
        #: written twice per job, where a pool-wide dict cost a hash insert and a pop
        self.job_id: str | None = None
        #: :meth:`cancel` was called on the current scope (a plain flag: loops read it per job)
        self.cancelled = False

    def cancel(self) -> None:
        """Cancel what the worker runs now (its loop then continues in a fresh scope)."""
        self.cancelled = True
        self.scope.cancel()


class WorkerLoop(Protocol):
    """A mode's loop: take, claim and run jobs until :attr:`Crew.hold`; True when the worker
    is done for good (dispatch closed, pool stopping), False to re-check (a cancel hit its
    scope, or the crew holds for a resize)."""

    def __call__(self, worker: Worker) -> Awaitable[bool]: ...


class Crew:
    """The pool's worker tasks (see the module docstring)."""

    def __init__(
        self,
        name: str,
        target: int,
        stats: PoolStats,
        clock: Callable[[], float],
        tracer: Tracer | None,
    ) -> None:
        self.name = name
        self.target = target
        self.stats = stats
        self.clock = clock
        self.tracer = tracer
        self.debug = False
        #: every worker id this pool has started, in order
        self.ids: list[str] = []
        #: the workers running now
        self.live: dict[str, Worker] = {}
        #: loops stop taking jobs when set (stopping, or more workers than the target)
        self.hold = False
        self.stopping = False
        self.done: anyio.Event | None = None  # set when the last worker has exited
        self._group: anyio.abc.TaskGroup | None = None
        self._loop: WorkerLoop | None = None
        self._wake_idle: Callable[[int], int] = lambda n: 0

    def running(self) -> dict[str, str]:
        """Jobs whose handler runs now: ``{job_id: worker_id}``."""
        return {w.job_id: w.id for w in self.live.values() if w.job_id is not None}

    def running_job(self, job_id: str) -> Worker | None:
        """The worker whose handler runs ``job_id`` now, if any."""
        for worker in self.live.values():
            if worker.job_id == job_id:
                return worker
        return None

    def _name(self, number: int) -> str:
        return f"{self.name}-{number}"

    def plan_ids(self, n: int) -> list[str]:
        """Reserve the ids of the first ``n`` workers (known before the pool starts)."""
        ids = [self._name(i) for i in range(1, n + 1)]
        self.ids.extend(ids)
        for worker_id in ids:
            self.stats.processed.setdefault(worker_id, 0)
        return ids

    def start(
        self, group: anyio.abc.TaskGroup, loop: WorkerLoop, wake_idle: Callable[[int], int]
    ) -> None:
        """Start the planned workers in ``group``, each running ``loop``."""
        self._group, self._loop, self._wake_idle = group, loop, wake_idle
        self.done = anyio.Event()
        for worker_id in self.ids:
            self._spawn(worker_id)

    def _spawn(self, worker_id: str) -> None:
        assert self._group is not None
        worker = Worker(worker_id)
        self.live[worker_id] = worker
        if self.tracer is not None:  # counted from now: the task runs from the next checkpoint
            self.tracer(TraceEvent.WORKER_STARTED, self.clock(), "", worker_id)
        self._group.start_soon(self._run, worker, name=f"jobsim {worker_id}")

    def _update_hold(self) -> None:
        self.hold = self.stopping or len(self.live) > self.target

    def resize(self, n: int) -> None:
        """Aim for ``n`` workers: start the missing ones now; surplus ones leave between
        jobs (idle ones are woken to leave at once)."""
        self.target = n
        missing = n - len(self.live)
        for _ in range(missing):
            worker_id = self._name(len(self.ids) + 1)
            self.ids.append(worker_id)
            self.stats.processed.setdefault(worker_id, 0)
            self._spawn(worker_id)
        self._update_hold()
        if missing < 0:
            self._wake_idle(-missing)

    def stop(self) -> None:
        """Stop taking jobs: every worker leaves after its current job."""
        self.stopping = True
        self.hold = True

    async def wait_done(self) -> None:
        """Return once every worker has exited."""
        assert self.done is not None
        await self.done.wait()

    async def _run(self, worker: Worker) -> None:
        worker_id = worker.id
        loop = self._loop
        assert loop is not None
        if self.debug:
            worker_logger.debug("%s: started", worker_id)
        try:
            while not self.stopping:
                done = False
                with anyio.CancelScope() as scope:
                    worker.scope, worker.cancelled = scope, False
                    done = await loop(worker)
                if done:
                    break
                if len(self.live) > self.target:
                    break  # surplus after a resize: leave between jobs
        finally:
            del self.live[worker_id]
            self._update_hold()
            if self.tracer is not None:
                self.tracer(TraceEvent.WORKER_STOPPED, self.clock(), "", worker_id)
            if self.debug:
                worker_logger.debug(
                    "%s: stopped after %d jobs", worker_id, self.stats.processed[worker_id]
                )
            if not self.live:
                assert self.done is not None
                self.done.set()
