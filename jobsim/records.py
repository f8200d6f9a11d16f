"""Per-job records and run summaries, built once at the end of a run.

During a run the pool's tracer extends a plain list (cheap: records must not slow the pool);
:func:`build` turns it into pandas frames afterwards. pandas is imported only when a run is
recorded, so ``import jobsim`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim import analysis, capacity
from jobsim import summary as summaries
from jobsim.domain import Job, JobStatus
from jobsim.events import ATTEMPT_ENDS, TraceEvent
from jobsim.pool.stats import ShutdownReport
from jobsim.run_settings import RunSettings
from jobsim.summary import SUMMARY_KEYS, summarise
from jobsim.trace_table import Trace, trace_frame
from jobsim.workload import Plan

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "JOB_COLUMNS",
    "SUMMARY_KEYS",
    "BackpressureWarning",
    "RunResult",
    "RunSettings",
    "assemble",
    "build",
    "job_frame",
    "one_attempt_each",
    "summarise",
    "warn_if_blocked",
]

#: Columns of :attr:`RunResult.jobs`, one row per job (times in seconds on the run's clock,
#: measured from the start of the run).
JOB_COLUMNS = [
    "job_id",
    "index",
    "job_class",
    "priority",
    "worker_id",
    "status",
    "expired",
    "attempts",
    "arrived",
    "submitted",
    "started",
    "finished",
    "wait",
    "service",
    "latency",
    "retry_wait",
]


@dataclass
class RunResult:
    """What :func:`jobsim.simulate` returns.

    Attributes:
        jobs: one row per job, columns :data:`JOB_COLUMNS`. ``arrived`` is the workload's
            planned arrival, ``submitted`` when the producer actually submitted the job (later
            when a full channel held the producer up: see ``capacity`` in
            :func:`~jobsim.simulate`). ``wait`` is submitted -> first start; ``service`` is
            the last attempt's duration; ``latency`` is submitted -> finished;
            ``retry_wait`` is the time spent between attempts. ``job_class`` names
            the job's class (a :class:`~jobsim.Mix` key; else its type); ``expired`` is True
            for a job whose ttl passed before it started (it never ran: no wait, no latency).
        summary: :data:`SUMMARY_KEYS` -> numbers. ``worker_seconds`` is the cost: the
            integral of the worker count over the run (``workers x makespan`` for a fixed
            pool); ``cost_per_job`` = worker_seconds / completed; ``utilisation`` = busy time
            / worker_seconds; ``duplicates`` counts handler runs beyond one per attempt (a
            non-atomic claim's damage); ``lost`` counts acknowledged jobs neither finished nor
            pending; ``lq`` and ``l`` are the time-weighted mean numbers of jobs queued and in
            the system over the run (see :func:`jobsim.analysis.occupancy`).
        events: the raw trace: ``time, event, job_id, worker_id``.
        queue_depth: ``time, depth``: job ids waiting in the channel, one row per instant at
            which the depth changed (the depth after everything that happened then).
        report: the pool's :class:`~jobsim.ShutdownReport`.
        settings: how the run was made (clock, backend, workers, capacity, seed, wall time).

    :attr:`workers` (``time, workers, busy`` over the run) and :meth:`windows` (per time
    window) show capacity against load.
    """

    jobs: pd.DataFrame
    summary: dict[str, Any]
    events: pd.DataFrame
    queue_depth: pd.DataFrame
    report: ShutdownReport
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: ``(time, +1 or -1)`` for every worker started or stopped after the start, and the
    #: count at the start (None: the summary's ``workers`` throughout)
    worker_changes: Sequence[tuple[float, int]] = field(default=(), repr=False)
    initial_workers: int | None = field(default=None, repr=False)
    _timeline: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def workers(self) -> pd.DataFrame:
        """``time, workers, busy`` after every change: workers alive, jobs running."""
        if self._timeline is None:
            initial = self.initial_workers
            initial = self.summary["workers"] if initial is None else initial
            self._timeline = capacity.timeline(self.events, self.worker_changes, initial)
        return self._timeline

    def windows(self, seconds: float) -> pd.DataFrame:
        """Throughput, p95 latency, mean workers and utilisation per window of ``seconds``
        (see :func:`jobsim.capacity.windows`)."""
        return capacity.windows(self, seconds)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<RunResult {s['jobs']} jobs on {s['workers']} workers "
            f"({self.settings.get('clock', '?')} clock, {self.settings.get('backend', '?')}): "
            f"makespan {s['makespan']:.6g} s, throughput {s['throughput']:.6g} jobs/s, "
            f"wait p95 {s['wait_p95']:.6g} s, completed {s['completed']}, "
            f"duplicates {s['duplicates']}, lost {s['lost']}>"
        )

    def steady(
        self,
        warmup: str | None = "mser5",
        *,
        seconds: float | None = None,
        jobs: int | None = None,
        metric: str = "wait",
    ) -> RunResult:
        """This run without its warm-up (MSER-5 by default): see :func:`jobsim.analysis.steady`."""
        return analysis.steady(self, warmup, seconds=seconds, jobs=jobs, metric=metric)

    def _repr_html_(self) -> str:
        import pandas as pd

        table = pd.Series(self.summary, name="value").to_frame()
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"<p><b>RunResult</b> ({settings})</p>" + table.to_html()

    def by_class(self) -> pd.DataFrame:
        """The summary per job class, one row each (highest priority first): ``priority``,
        ``jobs``, ``completed``, ``failed``, ``expired``, ``wait_mean/p50/p95/p99`` (of the
        jobs that started) and ``latency_mean/p50/p95/p99`` (of those that finished)."""
        return summaries.by_class(self.jobs)


def build(
    jobs: Sequence[Job],
    trace: Trace,
    duplicates: int,
    report: ShutdownReport,
    *,
    workers: int,
    t0: float,
    arrived: Sequence[float],
    settings: Mapping[str, Any],
    plan: Plan | None = None,
    initial_workers: int | None = None,
    shutdown_at: float = np.inf,
) -> RunResult:
    """Turn a run's jobs, trace and handler runs beyond one per attempt (``duplicates``)
    into a :class:`RunResult` (``arrived``: each job's planned arrival, aligned with
    ``jobs``; ``plan``: the plan
    the jobs were made from, job ``i`` of ``jobs`` its job ``i``: it names each job's class,
    without it the class is the job's type and the index ``payload["i"]``;
    ``initial_workers``: workers alive at ``t0``, when a scaler may have changed them;
    workers leaving from ``shutdown_at`` on are the shutdown's, not the run's capacity)."""
    table = trace_frame(trace, t0=t0, shutdown_at=shutdown_at)
    events, worker_changes = table.events, table.worker_changes

    def column(name: str) -> list[Any]:  # one attribute of every job, read in C
        return list(map(attrgetter(name), jobs))

    def clock(name: str) -> np.ndarray:  # a time of every job from t0 (None: NaN)
        return np.array(column(name), dtype=float) - t0

    status = list(map(_STATUS_VALUE.__getitem__, column("status")))
    frame = job_frame(
        job_id=column("id"),
        index=np.arange(len(jobs)) if plan is not None else _indexes(jobs),
        job_class=_class_names(jobs, plan),
        priority=column("priority"),
        worker_id=column("worker_id"),
        status=status,
        expired=(
            np.array(status, dtype=object) == _EXPIRED
            if _EXPIRED in status  # (the one string object: found by identity, in C)
            else np.zeros(len(status), dtype=bool)
        ),
        attempts=column("attempts"),
        arrived=arrived,
        submitted=clock("created"),
        last_start=clock("started"),
        finished=clock("finished"),
    )
    if not table.redone:
        busy = one_attempt_each(frame)
    else:
        frame["service"] = frame["finished"] - frame["last_start"]
        starts = events[events["event"] == TraceEvent.STARTED]
        ends = events[events["event"].isin(ATTEMPT_ENDS) & events["worker_id"].notna()]
        by_job = frame["job_id"]
        first_start = starts.groupby("job_id", sort=False)["time"].min()
        # Once the pool has shut down every started attempt has ended, so per job the work
        # done is the sum of its end times minus the sum of its start times.
        ended = by_job.map(ends.groupby("job_id", sort=False)["time"].sum()).fillna(0.0)
        began = by_job.map(starts.groupby("job_id", sort=False)["time"].sum()).fillna(0.0)
        work = ended - began
        busy = float(work.sum())
        frame["started"] = by_job.map(first_start).astype(float)
        # Between attempts: the span from first to last start, minus earlier attempts' work.
        earlier_work = work - frame["service"].fillna(0.0)
        frame["retry_wait"] = (frame["last_start"] - frame["started"] - earlier_work).clip(lower=0)
    return assemble(
        frame,
        events,
        report,
        busy,
        duplicates,
        workers,
        settings,
        worker_changes=worker_changes,
        initial_workers=initial_workers,
        levels=table.levels,
    )


_STATUS_VALUE = {status: status.value for status in JobStatus}
_EXPIRED = _STATUS_VALUE[JobStatus.EXPIRED]


def _indexes(jobs: Sequence[Job]) -> list[Any]:
    """Each job's index in its plan (``payload["i"]``; its position when it has none), read
    in C when every job has one (the lab's jobs all do)."""
    try:
        return list(map(itemgetter("i"), map(attrgetter("payload"), jobs)))
    except KeyError:
        return [j.payload.get("i", n) for n, j in enumerate(jobs)]


def job_frame(
    *,
    job_id: Sequence[str],
    index: Any,
    job_class: Any,
    priority: Any,
    worker_id: Sequence[str | None],
    status: Sequence[str],
    expired: Any,
    attempts: Any,
    arrived: Any,
    submitted: Any,
    last_start: Any,
    finished: Any,
) -> pd.DataFrame:
    """The per-job frame before its derived columns (one construction for both engines;
    the numeric columns keep their dtypes when there are no jobs)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "job_id": job_id,
            "index": np.asarray(index, dtype=np.int64),
            "job_class": pd.Series(job_class, dtype=object),
            "priority": np.asarray(priority, dtype=np.int64),
            "worker_id": worker_id,
            "status": status,
            "expired": np.asarray(expired, dtype=bool),
            "attempts": np.asarray(attempts, dtype=np.int64),
            "arrived": np.asarray(arrived, dtype=float),
            "submitted": np.asarray(submitted, dtype=float),
            "last_start": np.asarray(last_start, dtype=float),
            "finished": np.asarray(finished, dtype=float),
        },
        copy=False,  # one block per column: no copy of the arrays into 2-D blocks
    )


def one_attempt_each(frame: pd.DataFrame) -> float:
    """Every job ran at most once, start to end: the stored timestamps say it all. Adds
    ``service``, ``started`` and ``retry_wait``; returns the busy time."""
    frame["service"] = frame["finished"] - frame["last_start"]
    frame["started"] = frame["last_start"]
    frame["retry_wait"] = np.where(frame["started"].notna(), 0.0, np.nan)
    return float(frame["service"].sum())


def assemble(
    frame: pd.DataFrame,
    events: pd.DataFrame | Callable[[], pd.DataFrame],
    report: ShutdownReport,
    busy: float,
    duplicates: int,
    workers: int,
    settings: Mapping[str, Any],
    *,
    worker_changes: Sequence[tuple[float, int]] = (),
    initial_workers: int | None = None,
    levels: pd.DataFrame | None = None,
) -> RunResult:
    """Finish the per-job frame, derive the queue depth and the summary. ``levels``:
    :func:`~jobsim.trace_table.occupancy_levels` of ``events``, if the caller has it more
    cheaply than from the frame's strings. ``events`` may be a function that makes the
    trace frame: it is then called once the summary is done, so that the two peaks of memory
    do not add up."""
    import pandas as pd

    frame["wait"] = frame["started"] - frame["submitted"]
    frame["latency"] = frame["finished"] - frame["submitted"]
    frame = frame[JOB_COLUMNS]
    scaled = bool(worker_changes) or initial_workers not in (None, workers)
    if callable(events) and (levels is None or scaled):
        events = events()  # needed now: for the levels, or for the timeline of workers
    if levels is None:
        assert not callable(events)
        levels = analysis.occupancy_from_events(events)
    # One sample per instant (the depth after everything that happened then): a job queued
    # and taken at the same instant was never waiting, and must not show as a spike.
    queue_depth = levels[["time", "queued"]].rename(columns={"queued": "depth"})
    result = RunResult(
        frame,
        {},
        pd.DataFrame() if callable(events) else events.reset_index(drop=True),
        queue_depth,
        report,
        settings,
        worker_changes,
        initial_workers,
    )
    worker_seconds = None  # workers x makespan, unless the count changed during the run
    finished = frame["finished"].dropna()
    end = float(finished.max()) if len(finished) else 0.0
    if any(t < end for t, _ in worker_changes) or initial_workers not in (None, workers):
        result.summary["workers"] = workers  # read by the timeline for its start
        worker_seconds = capacity.integral(result.workers, "workers", 0.0, end)
    summary = summarise(
        frame, workers=workers, busy=busy, duplicates=duplicates, worker_seconds=worker_seconds
    )
    means = analysis.occupancy_means(levels, 0.0, summary["makespan"], workers)
    summary["lq"], summary["l"] = means["lq"], means["l"]
    result.summary = summary
    if callable(events):
        result.events = events()
    return result


def _class_names(jobs: Sequence[Job], plan: Plan | None) -> list[str]:
    if plan is None or not plan.classes:
        return list(map(attrgetter("type"), jobs))
    names = [c.name for c in plan.classes]
    if len(names) == 1:
        return names * len(jobs)
    of = plan.job_class
    return [names[of[j.payload["i"]]] for j in jobs]


class BackpressureWarning(UserWarning):
    """A run's producer found the channel full, so timed arrivals entered it late."""


def warn_if_blocked(result: RunResult, *, closed: bool, stacklevel: int = 2) -> None:
    """Warn once when the producer of a timed (not ``closed``: not all at t = 0) workload was
    held up by a full channel: its waits and latencies then understate the open system's."""
    blocked = int(result.settings.get("blocked_submits", 0))
    if not blocked or closed:
        return
    import warnings

    jobs = result.jobs
    queued = result.events[result.events["event"] == "queued"].groupby("job_id")["time"].min()
    late = float((jobs["job_id"].map(queued) - jobs["arrived"]).max())
    capacity = result.settings.get("capacity")
    warnings.warn(
        f"the producer was blocked by capacity={capacity}: {blocked} of {len(jobs)} jobs found "
        f"the channel full and arrivals entered it up to {late:.4g} s later than planned, so "
        "waits and latencies are lower than the workload's arrival process would give. For an "
        f"open system (M/M/c, capacity planning, theory) pass capacity >= jobs, here "
        f"capacity={len(jobs)}; compare RunResult.jobs['arrived'] (planned) with "
        "['submitted'].",
        BackpressureWarning,
        stacklevel=stacklevel,
    )
