"""The recursion engine: a pool run's records computed from arrivals and service times alone.

For the workloads it can describe (:func:`unsupported` says which), the
:class:`~jobsim.WorkerPool` in virtual time is a deterministic machine: one producer submitting
jobs at their arrival times, one bounded FIFO channel, ``workers`` identical workers that take
the next id as soon as they are free, and the tie rules of the lab's
:class:`~jobsim.clock.Sequencer` (at one instant: finished jobs in index order, then the
producer). Its per-job records therefore follow from a short event recursion: a heap of
wake-ups (a job's end, the next arrival), the FIFO of idle workers, the channel's occupancy
and the producer's backpressure. :func:`schedule` runs that recursion; :func:`run` turns it
into the same :class:`~jobsim.RunResult` the pool gives, column for column and bit for bit.

It is both a fast path (no event loop, no tasks: one loop iteration per event) and an
independent oracle: the tests check on hundreds of random workloads that the two engines give
identical ``RunResult.jobs`` on asyncio and on trio.

Exactness needs the pool's own float arithmetic, so the recursion keeps it: a sleep's deadline
is ``now + delay``, and when nothing is due the clock jumps as both virtual clocks do
(``now += deadline - now`` until ``now >= deadline``).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim.workload import Plan, Workload

if TYPE_CHECKING:
    from jobsim.records import RunResult

__all__ = ["Schedule", "run", "schedule", "unsupported"]


def unsupported(workload: Workload, *, clock: str, store: object = None) -> list[str]:
    """Why the recursion cannot stand in for the pool on this run (empty: it can).

    Each reason names the setting and what the recursion needs. The recursion models the
    ``sleep`` kind without failures, in virtual time, on the default in-memory store (a store
    you pass is one you want written), with FIFO dispatch over the bounded channel and a fixed
    worker count. Policies added to :func:`~jobsim.simulate` extend this list.
    """
    reasons = []
    if workload.kind != "sleep":
        reasons.append(f"kind={workload.kind!r} (the recursion models kind='sleep' only)")
    if workload.failure_rate > 0:
        reasons.append(
            f"failure_rate={workload.failure_rate:g} (the recursion models no failures or retries)"
        )
    if clock != "virtual":
        reasons.append(f"clock={clock!r} (the recursion computes virtual time only)")
    if store is not None:
        reasons.append("store= was given (the recursion writes no store)")
    return reasons


@dataclass(frozen=True, slots=True)
class Schedule:
    """What happened to each job (arrays indexed by job index; times on the run's clock).

    ``queued`` is when the id entered the channel (later than ``submitted`` when the producer
    waited for room), ``worker`` the 1-based worker number, ``shutdown`` when the producer
    called ``shutdown()`` and ``end`` when the last job finished.
    """

    submitted: np.ndarray
    queued: np.ndarray
    started: np.ndarray
    finished: np.ndarray
    worker: np.ndarray
    shutdown: float
    end: float


def schedule(
    arrivals: Sequence[float],
    service: Sequence[float],
    workers: int,
    capacity: int,
    *,
    wait_for_all: bool = False,
) -> Schedule:
    """Run the event recursion of the pool on one plan (see the module docstring).

    ``wait_for_all``: the producer calls ``shutdown()`` only once every job has ended (as
    :func:`~jobsim.simulate` does when jobs may be retried), not right after its last submit.
    """
    n = len(arrivals)
    submitted = [0.0] * n
    queued = [0.0] * n
    started = [0.0] * n
    finished = [0.0] * n
    worker = [0] * n
    idle = deque(range(1, workers + 1))  # workers waiting on the channel, in arrival order
    channel: deque[int] = deque()  # job indices in the channel's buffer
    # Wake-ups: (deadline, 0, j) job j ends; (deadline, 1, k) the producer's sleep before job
    # k. Popping the smallest is the Sequencer's rule: earliest deadline, then key.
    heap: list[tuple[float, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    now = 0.0
    k = 0  # the next job the producer submits
    blocked = False  # job k is stored and waits for room in the channel
    producer = True  # the producer runs before the next wake-up
    shutdown = 0.0
    while True:
        if producer:
            producer = False
            while k < n:
                delay = arrivals[k] - now
                if delay > 0:
                    push(heap, (now + delay, 1, k))
                    break
                submitted[k] = now
                if idle:  # the channel hands the id to the longest-waiting worker
                    w = idle.popleft()
                    queued[k] = started[k] = now
                    worker[k] = w
                    push(heap, (now + service[k], 0, k))
                elif len(channel) < capacity:
                    channel.append(k)
                    queued[k] = now
                else:
                    blocked = True  # backpressure: wait until a worker takes an id
                    break
                k += 1
            else:
                shutdown = now
        if not heap:
            break
        deadline, kind, j = pop(heap)
        while now < deadline:  # the virtual clocks' jump, bit for bit
            now += deadline - now
        if kind:
            producer = True
            continue
        finished[j] = now
        if blocked:  # taking an id lets the waiting producer's id into the channel
            channel.append(k)
            queued[k] = now
            k += 1
            blocked = False
            producer = True
        if channel:
            m = channel.popleft()
            w = worker[j]
            started[m] = now
            worker[m] = w
            push(heap, (now + service[m], 0, m))
        else:
            idle.append(worker[j])
    end = max(finished) if n else 0.0
    return Schedule(
        submitted=np.asarray(submitted, dtype=float),
        queued=np.asarray(queued, dtype=float),
        started=np.asarray(started, dtype=float),
        finished=np.asarray(finished, dtype=float),
        worker=np.asarray(worker, dtype=np.int64),
        shutdown=end if wait_for_all and n else shutdown,
        end=end,
    )


def run(
    workload: Workload, plan: Plan, *, workers: int, capacity: int, settings: dict[str, Any]
) -> RunResult:
    """The :class:`~jobsim.RunResult` the pool would give for ``plan``, by the recursion."""
    from jobsim import records

    s = schedule(
        plan.arrivals,
        plan.service,
        workers,
        capacity,
        wait_for_all=workload.max_attempts > 1,
    )
    return records.from_schedule(s, workers=workers, settings=settings)
