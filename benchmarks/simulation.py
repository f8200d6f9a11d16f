"""jobsim's virtual time against SimPy: the same M/M/c model, same draws, same process.

For each repeat, one :class:`~jobsim.Workload` plan (Poisson arrivals, exponential service)
runs twice, interleaved: through the real :class:`~jobsim.WorkerPool` with
``jobsim.simulate(clock="virtual")``, and through a textbook SimPy 4 model (a ``Resource``
with ``c`` slots). Both see the identical arrival and service times, so their mean waits
agree to rounding, and both sit next to Erlang C's ``Wq`` from :mod:`jobsim.theory`.

Columns (besides the tidy ones): ``wall_s`` (jobsim, ``simulate()`` end to end: plan, pool,
records), ``baseline_wall_s`` (SimPy, drawing the same plan and running), ``ratio`` (jobsim /
SimPy wall time; the issue's target is <= 1.0), ``cpu_ratio`` (the same in process CPU time,
steadier on a shared machine), ``run_wall_s`` (jobsim's pool run alone, without records),
``wait_mean_s``, ``baseline_wait_mean_s``, ``theory_wq_s`` and ``baseline`` = ``"simpy"``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from jobsim import Exponential, Poisson, Workload, simulate
from jobsim.theory import mmc

__all__ = ["notes", "run", "simpy_mmc"]

#: The issue's model: M/M/10 at 8 arrivals/s with 1 s mean service (utilisation 0.8).
DEFAULT_WORKERS: tuple[int, ...] = (10,)
DEFAULT_JOBS = 20_000
QUICK_JOBS = 5_000
LOAD = 0.8
MEAN_SERVICE = 1.0


def simpy_mmc(arrivals: list[float], service: list[float], servers: int) -> list[float]:
    """The M/M/c queue in SimPy 4: each job requests one of ``servers`` slots; its wait is
    the time from arrival to getting one. Returns the waits in arrival order."""
    import simpy

    env = simpy.Environment()
    slots = simpy.Resource(env, capacity=servers)
    waits = [0.0] * len(arrivals)

    def job(index: int) -> Any:
        with slots.request() as request:
            yield request
            waits[index] = env.now - arrivals[index]
            yield env.timeout(service[index])

    def source() -> Any:
        for index, at in enumerate(arrivals):
            if at > env.now:
                yield env.timeout(at - env.now)
            env.process(job(index))

    env.process(source())
    env.run()
    return waits


def _timed(func: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(
    *,
    quick: bool = False,
    repeat: int = 3,
    workers: list[int] | None = None,
    jobs: int | None = None,
    backend: str = "asyncio",
    clock: str | None = None,
    progress: bool = True,
    seed: int = 1,
    **options: Any,
) -> pd.DataFrame:
    """jobsim virtual M/M/c vs SimPy; one tidy row per (workers, repeat).

    Args:
        quick: 5,000 jobs instead of 20,000.
        repeat: recorded runs per worker count (after one discarded warm-up pair).
        workers: server counts ``c`` (default 10); the arrival rate is ``0.8 * c`` per second.
        jobs: jobs per run (default 20,000).
        backend: the backend jobsim runs on (``"asyncio"`` or ``"trio"``).
        clock: must be None or ``"virtual"`` (SimPy has no real clock to compare against).
        seed: the first repeat's seed (repeat ``r`` uses ``seed + r``).
    """
    if clock not in (None, "virtual"):
        raise ValueError(f"the simulation suite runs in virtual time only; got clock={clock!r}")
    counts = list(workers or DEFAULT_WORKERS)
    size = jobs if jobs is not None else (QUICK_JOBS if quick else DEFAULT_JOBS)
    # Warm-up pair: imports, first-call caches.
    small = Workload(200, Poisson(LOAD * counts[0]), Exponential(MEAN_SERVICE), seed=seed)
    simulate(small, workers=counts[0], capacity=200, backend=backend, engine="pool")
    simpy_mmc(*_plan(small), counts[0])
    rows: list[dict[str, Any]] = []
    plan = [(c, r) for r in range(repeat) for c in counts]
    for servers, rep in tqdm(plan, desc="simulation", unit="run", disable=not progress):
        rate = LOAD * servers
        workload = Workload(size, Poisson(rate), Exponential(MEAN_SERVICE), seed=seed + rep)
        result, wall, cpu = _timed(
            lambda w=workload, c=servers: simulate(
                w, workers=c, capacity=size, backend=backend, engine="pool"
            )
        )
        waits, base_wall, base_cpu = _timed(lambda w=workload, c=servers: simpy_mmc(*_plan(w), c))
        s = result.summary
        jobs_frame = result.jobs
        rows.append(
            {
                "suite": "simulation",
                "case": "mmc",
                "backend": backend,
                "clock": "virtual",
                "store": "memory",
                "workers": servers,
                "repeat": rep,
                "jobs": size,
                "arrival_rate": rate,
                "mean_service_s": MEAN_SERVICE,
                "makespan_s": s["makespan"],
                "throughput_jobs_s": s["throughput"],
                "wait_p50_s": s["wait_p50"],
                "latency_p50_s": s["latency_p50"],
                "latency_p95_s": s["latency_p95"],
                "latency_p99_s": s["latency_p99"],
                "wall_s": wall,
                "run_wall_s": result.settings["wall_time"],
                "baseline": "simpy",
                "baseline_wall_s": base_wall,
                "ratio": wall / base_wall,
                "cpu_ratio": cpu / base_cpu,
                "wait_mean_s": s["wait_mean"],
                "baseline_wait_mean_s": float(np.mean(waits)),
                "max_wait_diff_s": float(
                    np.max(np.abs(jobs_frame["wait"].to_numpy() - np.asarray(waits)))
                ),
                "theory_wq_s": mmc(rate, MEAN_SERVICE, servers).wq,
            }
        )
    return pd.DataFrame(rows)


def _plan(workload: Workload) -> tuple[list[float], list[float]]:
    plan = workload.plan()
    return plan.arrivals, plan.service


def notes(frame: pd.DataFrame) -> list[str]:
    """The issue's check in words: the wall-time ratio against SimPy and the mean waits."""
    lines = []
    for (servers, backend), part in frame.groupby(["workers", "backend"]):
        lines.append(
            f"M/M/{servers} ({part['jobs'].iloc[0]:,} jobs, {backend}): jobsim / SimPy wall time "
            f"{part['ratio'].median():.2f}x (CPU {part['cpu_ratio'].median():.2f}x; "
            f"target <= 1.0); mean wait jobsim {part['wait_mean_s'].mean():.4f} s, SimPy "
            f"{part['baseline_wait_mean_s'].mean():.4f} s, Erlang C "
            f"{part['theory_wq_s'].iloc[0]:.4f} s"
        )
    return lines
