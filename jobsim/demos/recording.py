"""What every demo shares: the ordered log of a run on the virtual clock, and its frames.

A demo records two logs with :class:`Recorder`: ``events`` (who stopped when, short labels for
a plot) and ``trace`` (the same events told in full plus every job event, for the narration);
:func:`print_log` prints a trace the way ``python -m jobsim demo`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from jobsim import checks
from jobsim.domain import Job

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recorder", "check_count", "ids", "jobs_frame", "print_log"]


class Recorder:
    """Two ordered logs on the run's clock: ``events`` (short labels, for the plot) and
    ``trace`` (the same events told in full, plus every job event, for the narration)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.trace: list[dict[str, Any]] = []

    def event(
        self,
        actor: str,
        event: str,
        told: str | None = None,
        *,
        problem: bool = False,
        at: float | None = None,
    ) -> None:
        """A lifecycle event: ``event`` (short) in both logs, or ``told`` in the trace."""
        at = anyio.current_time() if at is None else at
        row = {"time": at, "actor": actor, "event": event, "problem": problem}
        self.events.append(row)
        self.trace.append(row if told is None else row | {"event": told})

    def detail(self, actor: str, event: str, *, at: float | None = None, **extra: Any) -> None:
        """A job event (trace only)."""
        at = anyio.current_time() if at is None else at
        self.trace.append({"time": at, "actor": actor, "event": event, "problem": False, **extra})

    @staticmethod
    def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        """The rows as a frame, in time order (a stable sort: rows logged after the fact, such
        as the pool workers' exits, move to their time; ties keep the order they were logged
        in). Workers cancelled together die in an arbitrary order (the event loop keeps tasks
        in a set), so each run of same-instant "killed" events is put in worker order: a
        demo's log then repeats exactly."""
        import pandas as pd

        if not rows:
            return pd.DataFrame(columns=["time", "actor", "event", "problem"])
        ordered: list[dict[str, Any]] = []
        run: list[dict[str, Any]] = []
        in_time = sorted(rows, key=lambda r: r["time"])
        for row in [*in_time, {"time": None, "actor": "", "event": ""}]:
            killed = str(row["event"]).startswith("killed")
            if run and (row["time"] != run[0]["time"] or not killed):
                ordered += sorted(run, key=lambda r: _worker_number(r["actor"]))
                run = []
            if killed:
                run.append(row)
            elif row["time"] is not None:
                ordered.append(row)
        return pd.DataFrame(ordered)


def _worker_number(actor: str) -> int:
    number = actor.rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def jobs_frame(jobs: Sequence[Job]) -> pd.DataFrame:
    """One row per job (its fields), for :func:`jobsim.plot.timeline` and friends."""
    import pandas as pd

    frame = pd.DataFrame([job.to_dict() for job in jobs])
    if frame.empty:
        return frame
    frame["status"] = frame["status"].astype(str)
    return frame


def print_log(trace: pd.DataFrame, out: TextIO) -> None:
    """One line per row: ``[t=  0.25 s] !! worker-2  started job-01 AGAIN ...``."""
    for row in trace.itertuples(index=False):
        mark = "!!" if row.problem else "  "
        print(f"[t={row.time:6.2f} s] {mark} {row.actor:<9} {row.event}", file=out)


def ids(n: int) -> str:
    """``"1 job id"``, ``"3 job ids"``."""
    return f"{n} job id" if n == 1 else f"{n} job ids"


#: ``value`` if it is an integer >= ``minimum``, else a ValueError naming ``name``.
check_count = checks.count
