"""A run's trace as tables: the tracer's rows as an events frame, the occupancy levels.

During a run the pool's tracer extends one flat list by ``event, time, job_id, worker_id``
per row (:data:`Trace`: no tuple kept per row, so nothing for the garbage collector to walk
again and again while the run goes on); :func:`trace_frame` turns it into the ``events``
frame of a :class:`~jobsim.records.RunResult` in a few passes that iterate in C, with the
events as small integer codes, so that every later test on them is an array lookup rather
than a string comparison. :func:`occupancy_levels` derives the numbers queued and in the
system over time, for both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim.events import ATTEMPT_ENDS, WORKER_EVENTS, TraceEvent

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Trace", "TraceTable", "occupancy_levels", "trace_frame"]

#: A run's trace rows back to back in one list: ``[event, time, job_id, worker_id, event, ...]``.
Trace = list[TraceEvent | float | str | None]

# Trace events as small codes (their order in TraceEvent), and what each code means.
_MEMBER = np.array(list(TraceEvent), dtype=object)
_CODE: dict[Any, int] = {event: code for code, event in enumerate(TraceEvent)}
_WORKER_EVENT = np.array([event in WORKER_EVENTS for event in TraceEvent])
_ATTEMPT_END = np.array([event in ATTEMPT_ENDS for event in TraceEvent])
_STARTED = _MEMBER == TraceEvent.STARTED
_QUEUED_STEP = (_MEMBER == TraceEvent.QUEUED).astype(np.int32) - (_MEMBER == TraceEvent.TAKEN)
#: an attempt ended without completing its job: the job ran (or may run) more than once
_REDONE = np.isin(_MEMBER, [TraceEvent.RETRYING, TraceEvent.RELEASED, TraceEvent.CANCELLED])


@dataclass(frozen=True)
class TraceTable:
    """A trace as tables: ``events`` (``time, event, job_id, worker_id``; times from t0;
    no worker events), ``levels`` (:func:`occupancy_levels`), ``worker_changes`` (``(time,
    +1 or -1)`` per worker started or stopped from t0 until shutdown) and ``redone``
    (whether some attempt ended without completing its job: retried, released, cancelled)."""

    events: pd.DataFrame
    levels: pd.DataFrame
    worker_changes: list[tuple[float, int]]
    redone: bool


def trace_frame(trace: Trace, *, t0: float, shutdown_at: float) -> TraceTable:
    """The tracer's rows (:data:`Trace`) as tables (``t0``: the run's start; workers
    leaving from ``shutdown_at`` on are the shutdown's, not changes of the run's capacity)."""
    import pandas as pd

    # One column at a time: a slice of the flat list, read in C.
    rows = len(trace) // 4
    codes = np.fromiter(map(_CODE.__getitem__, trace[0::4]), np.int8, rows)
    at = np.array(trace[1::4], dtype=float) - t0
    job_ids = np.array(trace[2::4], dtype=object)
    worker_ids = np.array(trace[3::4], dtype=object)
    # Workers starting and stopping are not job events: kept apart (their order at the same
    # instant is the backend's, and the job records must not depend on it).
    is_worker_event = _WORKER_EVENT[codes]
    worker_changes: list[tuple[float, int]] = []
    if is_worker_event.any():
        during = is_worker_event & (at >= 0) & (at < shutdown_at - t0)  # at t0: the start
        started = _CODE[TraceEvent.WORKER_STARTED]
        worker_changes = [
            (float(t), 1 if code == started else -1)
            for t, code in zip(at[during], codes[during], strict=True)
        ]
        keep = ~is_worker_event
        codes, at, job_ids, worker_ids = codes[keep], at[keep], job_ids[keep], worker_ids[keep]
    events = pd.DataFrame(
        {
            "time": at,
            "event": pd.Series(_MEMBER[codes], dtype=object, copy=False),
            "job_id": pd.Series(job_ids, dtype=object, copy=False),
            "worker_id": pd.Series(worker_ids, dtype=object, copy=False),
        },
        copy=False,
    )
    # Ends with a worker only: ``cancelled`` without one is a pending job that never ran.
    stops = _ATTEMPT_END[codes].astype(np.int32)
    ends = np.flatnonzero(stops)  # (a quarter of the rows: only these need the test)
    stops[ends] = ~pd.isna(worker_ids[ends])
    levels = occupancy_levels(at, _QUEUED_STEP[codes], _STARTED[codes].astype(np.int32) - stops)
    return TraceTable(events, levels, worker_changes, bool(_REDONE[codes].any()))


def occupancy_levels(times: Any, queued_steps: Any, busy_steps: Any) -> pd.DataFrame:
    """``time, queued, in_system`` after the last row of each instant (as
    :func:`~jobsim.analysis.occupancy`, without ``busy``), from a trace in time order and
    what each of its rows does to the ids queued and to the attempts running. The step
    arrays are summed in place."""
    import pandas as pd

    np.cumsum(queued_steps, out=queued_steps)
    np.cumsum(busy_steps, out=busy_steps)
    busy_steps += queued_steps  # now the jobs in the system
    last = np.ones(len(times), dtype=bool)
    last[:-1] = times[1:] != times[:-1]
    columns = {
        "time": times[last],
        "queued": queued_steps[last].astype(np.int64),
        "in_system": busy_steps[last].astype(np.int64),
    }
    return pd.DataFrame(columns, copy=False)  # queue_depth keeps two of these columns alone
