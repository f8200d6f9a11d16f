"""Output analysis: how sure a simulated figure is, and which part of a run to trust.

A queue started empty waits less at first than it will in steady state, and successive jobs'
waits are correlated, so neither "the mean of every wait" nor "mean ± 1.96·sd/√n" is honest.
This module holds the standard remedies (Law, *Simulation Modeling and Analysis*, ch. 9):

* :func:`mser` — the MSER-5 warm-up rule (White 1997): cut the prefix that minimises the
  standard error of the remaining batch-of-5 means;
* :func:`steady` (also ``RunResult.steady``) — the run without its warm-up, summary recomputed;
* :func:`batch_means` — a confidence interval for the mean of one long correlated series;
* :func:`t_interval` — a confidence interval over independent replications (these two live in
  :mod:`jobsim.intervals`);
* :func:`occupancy` / :func:`time_average` — the number queued, in service and in the system
  as step functions of time (from the event trace), and their time-weighted means (Lq, L,
  utilisation), which ``RunResult.summary`` reports as ``lq``, ``l`` and ``utilisation``.

numpy is imported with the module (``jobsim.records`` needs it anyway); pandas and scipy only
when a function needs them, so ``import jobsim`` stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jobsim.events import ATTEMPT_ENDS, TraceEvent
from jobsim.intervals import Interval, _series, batch_means, t_interval
from jobsim.summary import summarise

if TYPE_CHECKING:
    import pandas as pd

    from jobsim.records import RunResult

__all__ = [
    "Interval",
    "batch_means",
    "mser",
    "occupancy",
    "steady",
    "t_interval",
    "time_average",
]

#: A one-dimensional series of numbers: a list, a numpy array or a pandas Series.
Values = Any


# --- warm-up ----------------------------------------------------------------------------------


def mser(values: Values, batch: int = 5, *, low_start: bool = False) -> int:
    """MSER-``batch`` warm-up: how many leading values to delete (a multiple of ``batch``).

    The values (e.g. waits in arrival order) are averaged in batches of ``batch`` (5 gives
    MSER-5); for each cut ``d`` the statistic is the variance of the remaining batch means
    divided by their count, i.e. the squared standard error of the truncated mean; the cut
    that minimises it is returned. Cuts are searched in the first half only: a minimum
    further on means the run is too short to show a steady state, and the half is returned.

    Its known weakness is over-truncation of correlated output: a congested stretch early in
    the run has a large variance, so cutting it "stabilises" the rest although it was steady
    state, not warm-up, and the remaining mean is biased low. In runs of M/M/c queues started
    empty the rule cut in about 40 % of 800 seeds, and *every* cut deleted a prefix that
    waited longer than the rest, i.e. a congested stretch, never the empty start's low
    waits: mean wait -1.8 % (M/M/1 at 50 %), -4.7 % (M/M/3 at 60 %), -8.3 % (M/M/4 at 80 %)
    over 4,000 jobs, -4.1 % for M/M/1 at 90 % over 20,000. ``low_start=True`` says the
    series is known to start *low* (a queue started empty: the direction of the initial bias
    is known, as in Schruben's one-sided tests), and then a cut whose deleted prefix is not
    lower on average than the rest is refused (0 is returned): such a prefix cannot be the
    bias of an empty start. :func:`steady` uses it.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1 (5 for MSER-5), got {batch!r}")
    x = _series(values)
    count = x.size // batch
    if count < 4:
        return 0  # too short to tell anything from anything
    z = x[: count * batch].reshape(count, batch).mean(axis=1)
    tail_sum = np.cumsum(z[::-1])[::-1]  # sum of z[d:]
    tail_sq = np.cumsum((z * z)[::-1])[::-1]
    kept = np.arange(count, 0, -1, dtype=float)  # count - d
    squares = np.maximum(tail_sq - tail_sum**2 / kept, 0.0)
    statistic = squares / kept**2
    cut = int(np.argmin(statistic[: count // 2 + 1])) * batch
    if low_start and cut and not x[:cut].mean() < x[cut:].mean():
        return 0  # a congested stretch of steady state, not the low start: keep it
    return cut


def steady(
    result: RunResult,
    warmup: str | None = "mser5",
    *,
    seconds: float | None = None,
    jobs: int | None = None,
    metric: str = "wait",
) -> RunResult:
    """``result`` without its warm-up: the jobs submitted after the cut, summary recomputed.

    Say where the steady part starts in one way: ``warmup="mser5"`` (the default: MSER-5 on
    ``metric``, in arrival order, with ``low_start=True``: a run starts empty, so a cut that
    would delete a stretch waiting *longer* than the rest is refused, see :func:`mser`),
    ``seconds=`` (jobs submitted at or after that time) or
    ``jobs=`` (drop that many first arrivals). The summary covers the window from the cut to
    the last completion: ``makespan`` is that window's length, throughput, utilisation, ``lq``
    and ``l`` are measured over it. ``settings`` gains ``warmup_time`` and ``warmup_jobs``.
    """
    import pandas as pd

    frame = result.jobs.sort_values(["submitted", "index"], kind="stable")
    given = [name for name, v in (("seconds", seconds), ("jobs", jobs)) if v is not None]
    if given:
        if len(given) > 1 or warmup not in (None, "mser5"):
            raise ValueError("steady() takes one of warmup='mser5', seconds= or jobs=, not several")
    elif warmup != "mser5":
        raise ValueError(
            f"warmup must be 'mser5' (or pass seconds= or jobs= instead), got {warmup!r}"
        )
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
        cut = int((frame["submitted"] < seconds).sum())
    elif jobs is not None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 0 <= jobs < len(frame):
            raise ValueError(f"jobs must be an integer from 0 to {len(frame) - 1}, got {jobs!r}")
        cut = jobs
    else:
        if metric not in frame.columns:
            raise ValueError(f"metric must be a column of RunResult.jobs, got {metric!r}")
        cut = mser(frame[metric].to_numpy(float), low_start=True)  # runs start empty
    kept = frame.iloc[cut:].sort_index()
    start = float(seconds) if seconds is not None else float(frame["submitted"].iloc[cut])
    end = float(result.jobs["finished"].max())
    if not end > start:
        raise ValueError(f"nothing finishes after the cut at t={start:g} s: cut less")
    events = result.events[result.events["time"] >= start].reset_index(drop=True)
    depth = result.queue_depth
    level = depth.loc[depth["time"] <= start, "depth"]
    first = pd.DataFrame({"time": [start], "depth": [int(level.iloc[-1]) if len(level) else 0]})
    queue_depth = pd.concat([first, depth[depth["time"] > start]], ignore_index=True)
    workers = int(result.summary["workers"])
    levels = occupancy(result)
    summary = summarise(kept, workers=workers, busy=0.0, duplicates=result.summary["duplicates"])
    span = end - start
    done = kept["status"].isin(["completed", "failed"])
    summary |= {
        "makespan": span,
        "throughput": int(done.sum()) / span,
        "goodput": int((kept["status"] == "completed").sum()) / span,
    }
    summary |= occupancy_means(levels, start, end, workers)
    current: Any = result.settings  # a RunSettings dataclass (typed as a Mapping)
    settings = dataclasses.replace(current, warmup_time=start, warmup_jobs=cut)
    return type(result)(kept, summary, events, queue_depth, result.report, settings)


# --- time-weighted averages from the trace ----------------------------------------------------


def occupancy(result: RunResult) -> pd.DataFrame:
    """How many jobs are queued, in service and in the system, as step functions of time.

    One row per instant at which something changed (the state *after* every event at that
    instant: zero-length steps are dropped), from the run's event trace: ``time``,
    ``queued`` (delivered to the channel, not yet taken), ``busy`` (attempts running),
    ``in_system`` (the sum). ``busy / workers`` is the utilisation over time.
    """
    return occupancy_from_events(result.events)


def occupancy_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """:func:`occupancy` from a trace frame (``time, event, job_id, worker_id``)."""
    import pandas as pd

    kind = events["event"].to_numpy(object)
    worked = events["worker_id"].notna().to_numpy()
    # Ends with a worker only: ``cancelled`` without one is a pending job that never ran.
    ends = np.isin(kind, [str(e) for e in ATTEMPT_ENDS]) & worked
    queued = np.where(kind == TraceEvent.QUEUED, 1, 0) - np.where(kind == TraceEvent.TAKEN, 1, 0)
    busy = np.where(kind == TraceEvent.STARTED, 1, 0) - np.where(ends, 1, 0)
    frame = pd.DataFrame(
        {
            "time": events["time"].to_numpy(float),
            "queued": np.cumsum(queued),
            "busy": np.cumsum(busy),
        }
    )
    frame = frame.drop_duplicates("time", keep="last").reset_index(drop=True)
    frame["in_system"] = frame["queued"] + frame["busy"]
    return frame


def time_average(
    times: Sequence[float] | np.ndarray,
    levels: Sequence[float] | np.ndarray,
    start: float,
    end: float,
) -> float:
    """Time-weighted mean over ``[start, end]`` of a step function.

    ``levels[i]`` holds from ``times[i]`` until ``times[i + 1]`` (the last one until ``end``);
    before ``times[0]`` the level is 0. Each level counts for as long as it lasted, so a
    change and its undoing at one instant weigh nothing.

    The area is numpy's own pairwise sum of the products, one thread in an order set by the
    length alone, not ``np.dot``: BLAS splits a long dot product (over 10,000 steps) across
    its threads, so its last bits depended on the process's BLAS thread count, which is one
    in a Dask worker, and ``lq`` and ``l`` of long runs differed by executor.
    """
    if not end > start:
        raise ValueError(f"end must be after start, got start={start!r}, end={end!r}")
    t = np.asarray(times, dtype=float)
    y = np.asarray(levels, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"times and levels differ in length: {t.size} vs {y.size}")
    widths = np.diff(np.clip(np.append(t, end), start, end))
    return float(np.add.reduce(y * widths) / (end - start))


def occupancy_means(
    levels: pd.DataFrame, start: float, end: float, workers: int
) -> dict[str, float]:
    """``lq``, ``l`` and ``utilisation``: time-weighted means of an :func:`occupancy` frame
    (``utilisation`` NaN without its ``busy`` column)."""
    if not end > start:
        nan = float("nan")
        return {"lq": nan, "l": nan, "utilisation": nan}
    t = levels["time"].to_numpy(float)
    return {
        "lq": time_average(t, levels["queued"].to_numpy(float), start, end),
        "l": time_average(t, levels["in_system"].to_numpy(float), start, end),
        "utilisation": time_average(t, levels["busy"].to_numpy(float), start, end) / workers
        if "busy" in levels
        else float("nan"),
    }
