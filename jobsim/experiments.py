"""Experiments: many seeded runs of one workload, on one core, on all of them, or on a cluster.

* :func:`sweep` — one run per worker count and repeat (the 1-vs-N table);
* :func:`replicate` — independent seeded replications, added until each asked-for metric's
  confidence interval is as narrow as asked (or ``max_runs``), with the interval table.

Both take ``executor=``: ``"serial"`` (this process), ``"processes"`` (a local process pool
sized to the cores, started by the first study that asks and reused by the later ones), a
``dask.distributed.Client`` (a cluster; ``pip install 'jobsim[dask]'``) or ``"auto"`` (processes
for virtual-time studies of :data:`AUTO_PROCESSES` runs or more, serial otherwise: starting
processes costs a second or two, and real-clock runs would compete for the cores they measure).
Every run gets its own seed up front and runs are put back in their planned order, so the frame
is the same whatever ran it (only ``wall_time`` differs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobsim.executors import (
    AUTO_PROCESSES,
    Task,
    _check_executor,
    _resolve,
    execute,
)
from jobsim.workload import Workload

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AUTO_PROCESSES", "DEFAULT_METRICS", "Replications", "replicate", "sweep"]


#: The metrics :func:`replicate` puts intervals on unless told otherwise.
DEFAULT_METRICS = (
    "wait_mean",
    "wait_p95",
    "latency_mean",
    "latency_p95",
    "latency_p99",
    "throughput",
    "utilisation",
    "lq",
    "l",
)


def _options(workload: Workload, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not isinstance(workload, Workload):
        raise TypeError(f"needs a Workload, got {type(workload).__name__}")
    for name in ("workers", "progress"):
        if name in options:
            raise TypeError(f"unexpected keyword argument {name!r} in the simulate options")
    seed = options.pop("seed", None)
    return (workload.seed if seed is None else seed), options


# --- sweep ------------------------------------------------------------------------------------


def sweep(
    workload: Workload,
    workers: Sequence[int] = (1, 2, 5, 10),
    repeats: int = 3,
    progress: bool = True,
    executor: Any = "auto",
    **options: Any,
) -> pd.DataFrame:
    """Run ``workload`` for each worker count, ``repeats`` times (seeds ``seed, seed+1, ...``).

    ``options`` go to :func:`~jobsim.simulate` (``clock``, ``backend``, ``capacity``, ...).
    Returns one row per run: the summary plus ``repeat``, ``seed``, ``clock``, ``backend``,
    ``engine`` and ``wall_time``; for a closed workload (``Batch()`` arrivals: every job there
    at t = 0) also ``speedup``, the makespan of the fewest workers / this makespan, within a
    repeat. An open workload's makespan is set by its arrivals, not by the workers, so it has
    no ``speedup``: compare ``throughput``, ``wait_p95`` or ``latency_p99`` instead
    (``jobsim.plot.scaling(frame, metric="latency_p99")``). ``executor``: see the module
    docstring.
    """
    import pandas as pd

    from jobsim.lab_prep import _closed

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(workers, int | str) or not isinstance(workers, Iterable):
        raise TypeError(
            f"sweep() takes a list of worker counts, e.g. workers=[1, 2, 5, 10]; got {workers!r}"
            + (
                f" (for one count: workers=[{workers}], or simulate(workload, workers={workers}))"
                if isinstance(workers, int)
                else ""
            )
        )
    counts = list(workers)
    if not counts:
        raise ValueError("workers must list at least one worker count, e.g. [1, 2, 5, 10]")
    _check_executor(executor)
    base_seed, options = _options(workload, options)
    tasks: list[Task] = [
        (
            workload,
            options | {"workers": count, "seed": base_seed + repeat},
            {"repeat": repeat, "seed": base_seed + repeat},
            None,
        )
        for repeat in range(repeats)
        for count in counts
    ]
    chosen = _resolve(executor, len(tasks), options.get("clock", "virtual"))
    frame = pd.DataFrame(execute(tasks, chosen, progress=progress, desc="sweep"))
    frame = frame[[c for c in frame.columns if c not in ("repeat", "seed")] + ["repeat", "seed"]]
    if _closed(workload):  # closed: the makespan is the workers' doing
        fewest = frame.loc[frame.groupby("repeat")["workers"].idxmin(), ["repeat", "makespan"]]
        base = frame["repeat"].map(fewest.set_index("repeat")["makespan"])
        frame["speedup"] = base / frame["makespan"]
    return frame


# --- replicate --------------------------------------------------------------------------------


@dataclass
class Replications:
    """What :func:`replicate` returns.

    Attributes:
        runs: one row per replication: ``run``, ``seed``, the summary, how it ran.
        intervals: one row per metric: ``mean, low, high, half_width, relative, confidence,
            n, method``, plus ``target`` (the relative half-width asked for, NaN if none) and
            ``met``.
        converged: every target in ``until`` met (True when none was asked).
    """

    runs: pd.DataFrame
    intervals: pd.DataFrame
    converged: bool
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        state = "converged" if self.converged else "NOT converged (max_runs reached)"
        return f"<Replications: {len(self.runs)} runs, {state}>\n{self.intervals.round(4)}"

    def _repr_html_(self) -> str:
        state = "converged" if self.converged else "<b>not</b> converged (max_runs reached)"
        return (
            f"<p><b>Replications</b>: {len(self.runs)} runs, {state}</p>" + self.intervals.to_html()
        )


def replicate(
    workload: Workload,
    runs: int = 10,
    until: Mapping[str, float] | None = None,
    max_runs: int = 200,
    *,
    workers: int = 10,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
    warmup: str | float | None = None,
    executor: Any = "auto",
    progress: bool = True,
    **options: Any,
) -> Replications:
    """Independent seeded runs of ``workload`` until the metrics are known as well as asked.

    Runs ``runs`` replications (seeds ``seed, seed+1, ...``), then, while some metric in
    ``until`` (``{"wait_mean": 0.05}``: a 5 % relative half-width) is not met and fewer than
    ``max_runs`` have run, adds as many as the intervals' width says are still needed (half
    widths shrink as 1/√n; at most doubling the count per round). Each run's figures are one
    independent value, so the intervals are plain t intervals (:func:`~jobsim.t_interval`).
    ``warmup="mser5"`` (or a number of seconds) cuts each run's warm-up first
    (:meth:`RunResult.steady`): do so for steady-state figures of runs that start empty.
    ``options`` go to :func:`~jobsim.simulate`.
    """
    import pandas as pd

    from jobsim.intervals import _confidence, t_interval

    confidence = _confidence(confidence)
    for name, value, low in (("runs", runs, 2), ("max_runs", max_runs, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if max_runs < runs:
        raise ValueError(f"max_runs ({max_runs}) must be >= runs ({runs})")
    targets = dict(until or {})
    for metric, target in targets.items():
        if isinstance(target, bool) or not isinstance(target, int | float) or not target > 0:
            raise ValueError(
                f"until[{metric!r}] must be a relative half-width > 0 (0.05 for 5 %), "
                f"got {target!r}"
            )
    if warmup is not None and warmup != "mser5" and not isinstance(warmup, int | float):
        raise ValueError(f"warmup must be None, 'mser5' or seconds, got {warmup!r}")
    _check_executor(executor)
    base_seed, options = _options(workload, options)
    options["workers"] = workers
    names = list(dict.fromkeys([*targets, *(metrics or DEFAULT_METRICS)]))

    rows: list[dict[str, Any]] = []

    def more(count: int) -> None:
        start = len(rows)
        tasks: list[Task] = [
            (
                workload,
                options | {"seed": base_seed + n},
                {"run": n, "seed": base_seed + n},
                warmup,
            )
            for n in range(start, start + count)
        ]
        chosen = _resolve(executor, count, options.get("clock", "virtual"))
        rows.extend(execute(tasks, chosen, progress=progress, desc="replicate"))

    def table() -> pd.DataFrame:
        frame = pd.DataFrame(rows)
        unknown = [m for m in names if m not in frame.columns]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from the summary's keys")
        out = pd.DataFrame(
            [t_interval(frame[m], confidence).as_dict() for m in names],
            index=pd.Index(names, name="metric"),
        )
        out["target"] = [targets.get(m, float("nan")) for m in names]
        relative = dict(zip(names, out["relative"].to_numpy(float), strict=True))
        out["met"] = [m not in targets or relative[m] <= targets[m] for m in names]
        return out

    more(runs)
    intervals = table()
    while not intervals["met"].all() and len(rows) < max_runs:
        missing = intervals[~intervals["met"].astype(bool)]
        ratio = float((missing["relative"] / missing["target"]).max())
        # Half widths shrink as 1/sqrt(n): aim at the count the widest miss calls for, but at
        # most double per round (early widths are rough estimates themselves).
        needed = min(int(len(rows) * ratio**2) + 1, 2 * len(rows), max_runs)
        more(max(1, needed - len(rows)))
        intervals = table()
    frame = pd.DataFrame(rows)
    return Replications(
        frame,
        intervals,
        bool(intervals["met"].all()),
        {"confidence": confidence, "until": targets, "max_runs": max_runs, "warmup": warmup},
    )
