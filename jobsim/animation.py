"""A run as a movie: the jobs waiting in the channel, each worker's current job, and the
timeline growing behind them. Exposed as :func:`jobsim.plot.animate`.

It plays a :class:`~jobsim.RunResult` (from :func:`jobsim.simulate`) or a demo report that
has per-run rows and an event log (:func:`jobsim.demos.duplicate_race`: a job that runs
twice shows up as a second, red bar on another worker's lane). The result is a matplotlib
``FuncAnimation``: ``anim.to_jshtml()`` plays it inline in Jupyter (it is also what the
animation shows as a notebook cell's value), ``anim.save("run.gif")`` writes a GIF with
Pillow (no ffmpeg needed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation

from jobsim._plotting import STATUS_COLOURS, _natural_key

__all__ = ["RunAnimation", "animate"]

#: Bar colours by a run's status; a run still going at the frame's time is "running".
_COLOURS = {"completed": "tab:green", "failed": "tab:red", "duplicate": "tab:red"}
_RUNNING = "tab:orange"
_MAX_SHOWN = 12  # job ids drawn in the channel strip; more are counted


class RunAnimation(FuncAnimation):
    """A ``FuncAnimation`` that saves ``.gif`` files with Pillow and shows itself inline."""

    def save(self, filename: Any, writer: Any = None, *args: Any, **kwargs: Any) -> None:
        if writer is None and str(filename).lower().endswith(".gif"):
            writer = "pillow"
        super().save(filename, writer, *args, **kwargs)

    def _repr_html_(self) -> str:
        return str(self.to_jshtml())


@dataclass(frozen=True)
class _Movie:
    """What the frames are drawn from, whatever the source."""

    runs: pd.DataFrame  # job_id, worker_id, started, finished, status
    channel: pd.DataFrame  # time, job_id, change (+1 queued, -1 taken), in event order
    workers: list[str]
    end: float


def _from_result(result: Any) -> _Movie:
    jobs = result.jobs.dropna(subset=["started"])
    runs = jobs[["job_id", "worker_id", "started", "finished", "status"]].reset_index(drop=True)
    events = result.events
    moves = events[events["event"].isin(["queued", "taken"])]
    channel = pd.DataFrame(
        {
            "time": moves["time"].to_numpy(float),
            "job_id": moves["job_id"].to_numpy(object),
            "change": np.where(moves["event"].to_numpy() == "queued", 1, -1),
        }
    )
    count = int(result.settings.get("workers") or result.summary["workers"])
    return _Movie(runs, channel, [f"worker-{i}" for i in range(1, count + 1)], _end(result.jobs))


def _from_report(report: Any) -> _Movie:
    """A demo report: ``runs`` (one row per handler run) and ``events`` whose ``event`` texts
    start with the pool's event names (``"queued job-01"``)."""
    events = report.events
    kind = events["event"].astype(str).str.split(" ", n=1).str[0]
    moves = events[kind.isin(["queued", "taken"])]
    channel = pd.DataFrame(
        {
            "time": moves["time"].to_numpy(float),
            "job_id": moves["job_id"].to_numpy(object),
            "change": np.where(kind[moves.index].to_numpy() == "queued", 1, -1),
        }
    )
    count = int(report.workers)
    runs = report.runs[["job_id", "worker_id", "started", "finished", "status"]]
    return _Movie(runs, channel, [f"worker-{i}" for i in range(1, count + 1)], _end(runs))


def _end(frame: pd.DataFrame) -> float:
    finished = frame["finished"].dropna()
    return float(finished.max()) if len(finished) else 1.0


def _movie(source: Any) -> _Movie:
    if hasattr(source, "jobs") and hasattr(source, "summary") and hasattr(source, "events"):
        return _from_result(source)
    if hasattr(source, "runs") and hasattr(source, "events") and hasattr(source, "workers"):
        return _from_report(source)
    raise TypeError(
        "animate() plays a RunResult (jobsim.simulate) or a demo report with runs and events "
        f"(jobsim.demos.duplicate_race); got {type(source).__name__}"
    )


def _waiting(channel: pd.DataFrame, times: np.ndarray) -> list[list[str]]:
    """The job ids in the channel (oldest first) at each of ``times``, replaying its moves."""
    queue: deque[str] = deque()
    snapshots = []
    rows = iter(zip(channel["time"], channel["job_id"], channel["change"], strict=True))
    pending = next(rows, None)
    for t in times:
        while pending is not None and pending[0] <= t:
            _, job_id, change = pending
            if change > 0:
                queue.append(job_id)
            elif job_id in queue:
                queue.remove(job_id)  # the first copy: a duplicate delivery waits behind it
            pending = next(rows, None)
        snapshots.append(list(queue))
    return snapshots


def animate(
    source: Any, *, frames: int = 40, interval: int = 100, title: str | None = None
) -> RunAnimation:
    """Animate a run: the channel's waiting jobs, each worker's current job, the timeline.

    Args:
        source: a :class:`~jobsim.RunResult` or a demo report with ``runs`` and ``events``
            (e.g. :func:`jobsim.demos.duplicate_race`).
        frames: how many frames, evenly spaced from t = 0 to the last job's end.
        interval: milliseconds per frame when played.
        title: a heading above the frame's clock (default: none).

    Returns a :class:`RunAnimation` (a matplotlib ``FuncAnimation``): ``.to_jshtml()`` for
    Jupyter, ``.save("run.gif")`` for a GIF (Pillow). The figure is closed, so a notebook
    shows the animation once, not an extra still.
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    if not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a positive number of milliseconds, got {interval!r}")

    movie = _movie(source)
    workers = sorted(set(movie.workers) | set(movie.runs["worker_id"].dropna()), key=_natural_key)
    lane = {w: i for i, w in enumerate(workers)}
    times = np.linspace(0.0, movie.end, frames)
    waiting = _waiting(movie.channel, times)
    runs = movie.runs.sort_values("started", kind="stable")
    started = runs["started"].to_numpy(float)
    finished = runs["finished"].to_numpy(float)
    job_ids = [str(j) for j in runs["job_id"]]
    lanes = [lane[w] for w in runs["worker_id"]]
    done_colours = [_COLOURS.get(str(s), STATUS_COLOURS.get(str(s), "0.5")) for s in runs["status"]]

    fig, (strip, gantt) = plt.subplots(
        2,
        1,
        figsize=(9, 1.6 + 0.38 * len(workers)),
        height_ratios=[1, max(2, len(workers) / 2.5)],
        layout="constrained",
        dpi=80,
    )
    # Every artist is made once; a frame only moves, recolours, shows or hides them.
    strip.set_xlim(0, _MAX_SHOWN + 2)
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_xticks([])
    slots = [
        strip.add_patch(plt.Rectangle((i, 0.1), 0.9, 0.8, color="tab:blue", alpha=0.8))
        for i in range(_MAX_SHOWN)
    ]
    labels = [
        strip.text(i + 0.45, 0.5, "", ha="center", va="center", fontsize=7)
        for i in range(_MAX_SHOWN)
    ]
    more = strip.text(_MAX_SHOWN + 0.2, 0.5, "", va="center")
    strip_title = strip.set_title("", loc="left")
    bars = gantt.barh(lanes, np.zeros(len(lanes)), left=started, height=0.7, edgecolor="k", lw=0.4)
    current = [gantt.text(0, y, "", va="center", fontsize=7) for y in range(len(workers))]
    now = gantt.axvline(0.0, color="0.3", lw=1)
    gantt.set_xlim(0, movie.end * 1.08)
    gantt.set_ylim(len(workers) - 0.5, -0.5)
    gantt.set_yticks(range(len(workers)), workers, fontsize=8)
    gantt.set_xlabel("time (s)")
    gantt_title = gantt.set_title("", loc="left")
    heading = f"{title}: " if title else ""

    def draw(k: int) -> list[Any]:
        t = float(times[k])
        queue = waiting[k]
        for i, (slot, label) in enumerate(zip(slots, labels, strict=True)):
            slot.set_visible(i < len(queue))
            label.set_text(queue[i] if i < len(queue) else "")
        more.set_text(f"+{len(queue) - _MAX_SHOWN} more" if len(queue) > _MAX_SHOWN else "")
        strip_title.set_text(f"channel: {len(queue)} job(s) waiting (next out on the left)")
        for text in current:
            text.set_text("")
        busy = 0
        for i, bar in enumerate(bars):
            begun = started[i] <= t
            done = begun and finished[i] <= t  # NaN (never finished) compares False
            bar.set_visible(bool(begun))
            bar.set_width((finished[i] if done else t) - started[i] if begun else 0.0)
            bar.set_color(done_colours[i] if done else _RUNNING)
            bar.set_edgecolor("k")
            if begun and not done:
                busy += 1
                current[lanes[i]].set_position((t, lanes[i]))
                current[lanes[i]].set_text(f"  {job_ids[i]}")
        now.set_xdata([t, t])
        gantt_title.set_text(f"{heading}t = {t:.2f} s, {busy} of {len(workers)} workers busy")
        return []

    draw(0)
    fig.canvas.draw()  # lay the panels out once, then keep them: frames only change artists
    fig.set_layout_engine("none")
    anim = RunAnimation(fig, draw, frames=frames, interval=interval, blit=False, repeat=False)
    plt.close(fig)
    return anim
