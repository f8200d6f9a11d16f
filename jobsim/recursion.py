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
import math
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim.events import TraceEvent
from jobsim.mix import Mix
from jobsim.workload import Plan, Workload

if TYPE_CHECKING:
    from jobsim.records import RunResult, RunSettings

__all__ = ["Schedule", "run", "schedule", "unsupported"]

_NEVER = math.inf


def unsupported(
    workload: Workload | Mix,
    *,
    clock: str,
    store: object = None,
    dispatch: object = "fifo",
    limits: object = None,
    scaler: object = None,
) -> list[str]:
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
    if scaler is not None:
        reasons.append("scaler= is set (the recursion models a fixed worker count)")
    classes = workload.classes.values() if isinstance(workload, Mix) else [workload]
    if any(w.ttl is not None for w in classes):
        reasons.append("ttl= is set (the recursion models no expiry)")
    if dispatch not in (None, "fifo"):
        reasons.append(f"dispatch={dispatch!r} (the recursion models the FIFO channel only)")
    if limits:
        reasons.append("limits= is set (the recursion models no rate or concurrency limits)")
    return reasons


@dataclass(frozen=True, slots=True)
class Schedule:
    """What happened to each job (arrays indexed by job index; times on the run's clock).

    ``queued`` is when the id entered the channel (later than ``submitted`` when the producer
    waited for room), ``worker`` the 1-based worker number, ``trace`` the pool's trace events
    in the pool's order (``4 * j + e``, ``e``: 0 queued, 1 taken and started, 3 completed),
    ``shutdown`` when the producer called ``shutdown()`` and ``end`` when the last job ended.
    """

    submitted: np.ndarray
    queued: np.ndarray
    started: np.ndarray
    finished: np.ndarray
    worker: np.ndarray
    trace: np.ndarray
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
    # Machine arrays, not lists: a million jobs would otherwise keep millions of float objects.
    zeros = bytes(8 * n)
    submitted = array("d", zeros)
    queued = array("d", zeros)
    started = array("d", zeros)
    finished = array("d", zeros)
    worker = array("q", zeros)
    # The pool's trace, in its order: 4j = job j queued, 4j + 1 taken (and started at once),
    # 4j + 3 completed. Workers handed an id by the producer run only once it yields.
    trace = array("i" if 4 * n < 2**31 else "q")  # half the memory when it can
    note = trace.append
    handed: list[int] = []
    idle = deque(range(1, workers + 1))  # workers waiting on the channel, in arrival order
    channel: deque[int] = deque()  # job indices in the channel's buffer
    # Wake-ups, in the Sequencer's order: earliest deadline first, then finished jobs (key
    # (0, j): by index) before the producer's wake-up for its next arrival (key (1, k)).
    ends: list[tuple[float, int]] = []  # heap of (deadline, j): job j ends
    wake = _NEVER  # the producer's wake-up, if it sleeps until job k's arrival
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
                    wake = now + delay
                    break
                submitted[k] = now
                if idle:  # the channel hands the id to the longest-waiting worker
                    queued[k] = started[k] = now
                    worker[k] = idle.popleft()
                    push(ends, (now + service[k], k))
                    handed.append(k)
                elif len(channel) < capacity:
                    channel.append(k)
                    queued[k] = now
                else:
                    blocked = True  # backpressure: wait until a worker takes an id
                    break
                note(4 * k)
                k += 1
            else:
                shutdown = now
            if handed:
                for h in handed:
                    note(4 * h + 1)
                handed.clear()
        if ends and ends[0][0] <= wake:
            deadline, j = pop(ends)
        elif wake is not _NEVER:
            deadline, wake, producer = wake, _NEVER, True
        else:
            break
        while now < deadline:  # the virtual clocks' jump, bit for bit
            now += deadline - now
        if producer:
            continue
        finished[j] = now
        note(4 * j + 3)
        if channel or blocked:
            if blocked:  # the worker's take lets the waiting producer's id into the channel
                channel.append(k)
            m = channel.popleft()
            started[m] = now
            worker[m] = worker[j]
            push(ends, (now + service[m], m))
            note(4 * m + 1)
            if blocked:  # the producer resumes: its id is queued
                queued[k] = now
                note(4 * k)
                k += 1
                blocked = False
                producer = True
        else:
            idle.append(worker[j])
    ends_at = np.frombuffer(finished, dtype=float)
    end = float(ends_at.max()) if n else 0.0
    return Schedule(
        submitted=np.frombuffer(submitted, dtype=float),
        queued=np.frombuffer(queued, dtype=float),
        started=np.frombuffer(started, dtype=float),
        finished=ends_at,
        worker=np.frombuffer(worker, dtype=np.int64),
        trace=np.frombuffer(trace, dtype=np.int32 if trace.itemsize == 4 else np.int64),
        shutdown=end if wait_for_all and n else shutdown,
        end=end,
    )


def run(
    workload: Workload | Mix,
    plan: Plan,
    *,
    workers: int,
    capacity: int,
    settings: RunSettings,
) -> RunResult:
    """The :class:`~jobsim.RunResult` the pool would give for ``plan``, by the recursion."""
    wait_for_all = workload.max_attempts > 1
    s = schedule(plan.arrivals, plan.service, workers, capacity, wait_for_all=wait_for_all)
    return result(s, workers=workers, settings=settings, plan=plan)


_EVENTS = np.array(
    [TraceEvent.QUEUED, TraceEvent.TAKEN, TraceEvent.STARTED, TraceEvent.COMPLETED], dtype=object
)
# What each event (by stage code) does to the number of ids queued and of attempts running.
_QUEUED_STEP = np.array([1, -1, 0, 0], dtype=np.int32)
_BUSY_STEP = np.array([0, 0, 1, -1], dtype=np.int32)


def result(s: Schedule, *, workers: int, settings: RunSettings, plan: Plan) -> RunResult:
    """A schedule as the pool's :class:`~jobsim.RunResult`: the same per-job columns (every
    job completed in one attempt; classes from ``plan``), its trace and queue depth, its
    shutdown report. Sets ``settings.blocked_submits``."""
    import pandas as pd

    from jobsim import records
    from jobsim.pool import ShutdownReport
    from jobsim.trace_table import occupancy_levels

    # Producer waits the pool would count: ids that could not enter the channel at once.
    settings.blocked_submits = int(np.count_nonzero(s.queued > s.submitted))
    n = len(s.submitted)
    names = np.array([None, *(f"worker-{i}" for i in range(1, workers + 1))], dtype=object)
    of = np.asarray(plan.job_class, dtype=np.int64)
    frame = records.job_frame(
        job_id=[f"job-{i}" for i in range(n)],
        index=np.arange(n, dtype=np.int64),
        job_class=np.array([c.name for c in plan.classes], dtype=object)[of],
        priority=np.array([c.priority for c in plan.classes], dtype=np.int64)[of],
        worker_id=names[s.worker].tolist(),
        status=["completed"] * n,
        expired=np.zeros(n, dtype=bool),
        attempts=np.ones(n, dtype=np.int64),
        arrived=plan.arrivals,
        submitted=s.submitted,
        last_start=s.started,
        finished=s.finished,
    )
    busy = records.one_attempt_each(frame)
    # The trace: a taken row is followed by its started row (code + 1). Built column by
    # column, without copies: a million jobs make four million rows.
    trace = s.trace
    code: np.ndarray[Any, np.dtype[np.signedinteger[Any]]] = np.repeat(
        trace, (trace & 3 == 1).astype(np.int8) + 1
    )
    code[1:][code[1:] == code[:-1]] += 1
    stage = (code & 3).astype(np.int8)
    table = np.column_stack([s.queued, s.started, s.started, s.finished]).ravel()
    times = table[code]
    del table
    # The occupancy levels (queued, busy) after each instant, from the stage codes.
    levels = occupancy_levels(times, _QUEUED_STEP[stage], _BUSY_STEP[stage])
    code >>= 2  # now the job of each row
    worker = s.worker

    def events() -> pd.DataFrame:
        # Made once the summary is done (see records.assemble): the last big allocation.
        worker_ids = names[worker][code]
        worker_ids[stage == 0] = None
        job_ids = np.asarray(frame["job_id"].to_numpy(dtype=object))[code]
        columns = {"event": _EVENTS[stage], "job_id": job_ids, "worker_id": worker_ids}
        return pd.DataFrame(
            {
                "time": pd.Series(times, copy=False),
                **{k: pd.Series(v, dtype=object, copy=False) for k, v in columns.items()},
            },
            copy=False,
        )

    report = ShutdownReport(
        completed=n,
        failed=0,
        pending=0,
        interrupted=0,
        duplicates_skipped=0,
        retried=0,
        cancelled=0,
        drained=True,
        timed_out=False,
        elapsed=s.end - s.shutdown,
    )
    return records.assemble(frame, events, report, busy, 0, workers, settings, levels=levels)
