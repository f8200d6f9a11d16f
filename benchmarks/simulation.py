"""jobsim's virtual time against SimPy: the same M/M/c model, same draws, same process.

For each repeat, one :class:`~jobsim.Workload` plan (Poisson arrivals, exponential service)
runs through a textbook SimPy 4 model (a ``Resource`` with ``c`` slots) and, interleaved,
through jobsim's engines: the real :class:`~jobsim.WorkerPool` in virtual time
(``simulate(engine="pool")``, on asyncio and on trio) and the exact event recursion
(``engine="recursion"``). All see the identical arrival and service times, so their mean waits
agree to rounding, next to Erlang C's ``Wq`` from :mod:`jobsim.theory`.

``case="mmc"`` rows: ``engine``, ``wall_s`` (``simulate()`` end to end: plan, run, records),
``baseline_wall_s`` (SimPy, drawing the same plan and running), ``ratio`` (jobsim / SimPy wall
time of the same repeat; targets: pool <= 1.5 on asyncio, <= 3 on trio, recursion <= 0.25),
``cpu_ratio`` (the same in process CPU time, steadier on a shared machine), ``run_wall_s``
(the engine alone, without records), ``wait_mean_s``, ``baseline_wait_mean_s``,
``max_wait_diff_s``, ``theory_wq_s``.

``case="million"``: one recursion run of 1,000,000 jobs (100,000 with ``--quick``) in a fresh
process: ``wall_s``, ``cpu_s``, ``memory_ratio`` (the run's peak resident memory, i.e.
``ru_maxrss`` after the run minus before it, over the 600 MB budget; targets: under 10 s,
ratio under 1) and ``process_memory_ratio`` (the whole process's peak, interpreter, numpy and
pandas included, over the same budget).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import time
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmarks._harness import Options
from jobsim import Exponential, Poisson, Workload, simulate
from jobsim.theory import mmc

__all__ = ["million", "notes", "run", "simpy_mmc"]

#: The benchmark's model: M/M/10 at 8 arrivals/s with 1 s mean service (utilisation 0.8).
DEFAULT_WORKERS: tuple[int, ...] = (10,)
DEFAULT_JOBS = 20_000
QUICK_JOBS = 5_000
MILLION = 1_000_000
QUICK_MILLION = 100_000
MEMORY_BUDGET_MB = 600.0
LOAD = 0.8
MEAN_SERVICE = 1.0
#: Wall-time targets against SimPy, per engine (and backend for the pool).
TARGETS = {("pool", "asyncio"): 1.5, ("pool", "trio"): 3.0, ("recursion", "-"): 0.25}


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


def million(jobs: int = MILLION, workers: int = 10, seed: int = 1) -> dict[str, float]:
    """One recursion run of ``jobs`` M/M/c jobs: wall and CPU seconds, this process's peak
    resident memory in MB, and its resident memory just before the run (interpreter, numpy,
    pandas). Run it in a fresh process, so that the peak is the run's own."""
    import pandas  # noqa: F401  (imported before the baseline: simulate needs it anyway)

    workload = Workload(jobs, Poisson(LOAD * workers), Exponential(MEAN_SERVICE), seed=seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result, wall, cpu = _timed(
        lambda: simulate(workload, workers=workers, capacity=jobs, engine="recursion")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mb": peak,
        "before_mb": before,
        "wait_mean_s": result.summary["wait_mean"],
    }


def _engines(backend: str | None) -> list[tuple[str, str]]:
    backends = [backend] if backend else ["asyncio", "trio"]
    return [("pool", b) for b in backends] + [("recursion", "-")]


def run(options: Options | None = None, /, *, seed: int = 1, **changes: Any) -> pd.DataFrame:
    """jobsim virtual M/M/c vs SimPy, per engine; one tidy row per (engine, workers, repeat),
    and one row for the million-job recursion run.

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``quick``: 5,000 jobs instead of 20,000 (and 100,000 instead of a million); ``workers``:
    server counts ``c`` (default 10; the arrival rate is ``0.8 * c`` per second); ``jobs``:
    jobs per run; ``backend``: the pool engine's backend (default: asyncio and trio);
    ``clock``: virtual only (SimPy has no real clock to compare against). ``seed``: the first
    repeat's seed (repeat ``r`` uses ``seed + r``).
    """
    o = Options.of(options, **changes)
    o.require_clock("virtual", suite="simulation", why="compares virtual time with SimPy")
    counts = list(o.workers or DEFAULT_WORKERS)
    size = o.jobs if o.jobs is not None else (QUICK_JOBS if o.quick else DEFAULT_JOBS)
    quick, repeat, progress, backend = o.quick, o.repeat, o.progress, o.backend
    engines = _engines(backend)
    # Warm-up: imports, first-call caches.
    small = Workload(200, Poisson(LOAD * counts[0]), Exponential(MEAN_SERVICE), seed=seed)
    for engine, backend in engines:
        simulate(small, workers=counts[0], capacity=200, engine=engine, backend=_b(backend))
    simpy_mmc(*_plan(small), counts[0])
    rows: list[dict[str, Any]] = []
    plan = [(c, r) for r in range(repeat) for c in counts]
    with tqdm(
        total=len(plan) + 1, desc="simulation", unit="run", disable=not progress, leave=False
    ) as bar:
        for servers, rep in plan:
            rate = LOAD * servers
            workload = Workload(size, Poisson(rate), Exponential(MEAN_SERVICE), seed=seed + rep)
            waits, base_wall, base_cpu = _timed(
                lambda w=workload, c=servers: simpy_mmc(*_plan(w), c)
            )
            for engine, backend in engines:
                result, wall, cpu = _timed(
                    lambda w=workload, c=servers, e=engine, b=backend: simulate(
                        w, workers=c, capacity=size, backend=_b(b), engine=e
                    )
                )
                s = result.summary
                rows.append(
                    {
                        "suite": "simulation",
                        "case": "mmc",
                        "engine": engine,
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
                            np.max(np.abs(result.jobs["wait"].to_numpy() - np.asarray(waits)))
                        ),
                        "theory_wq_s": mmc(rate, MEAN_SERVICE, servers).wq,
                    }
                )
            bar.update()
        big = QUICK_MILLION if quick else MILLION
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as fresh:
            m = fresh.submit(million, big, counts[0], seed).result()
        bar.update()
    rows.append(
        {
            "suite": "simulation",
            "case": "million",
            "engine": "recursion",
            "backend": "-",
            "clock": "virtual",
            "store": "memory",
            "workers": counts[0],
            "repeat": 0,
            "jobs": big,
            "arrival_rate": LOAD * counts[0],
            "mean_service_s": MEAN_SERVICE,
            "wall_s": m["wall_s"],
            "cpu_s": m["cpu_s"],
            "memory_ratio": (m["peak_mb"] - m["before_mb"]) / MEMORY_BUDGET_MB,
            "process_memory_ratio": m["peak_mb"] / MEMORY_BUDGET_MB,
            "wait_mean_s": m["wait_mean_s"],
            "theory_wq_s": mmc(LOAD * counts[0], MEAN_SERVICE, counts[0]).wq,
        }
    )
    return pd.DataFrame(rows)


def _b(backend: str) -> str:
    return "asyncio" if backend == "-" else backend


def _plan(workload: Workload) -> tuple[list[float], list[float]]:
    plan = workload.plan()
    return plan.arrivals, plan.service


def notes(frame: pd.DataFrame) -> list[str]:
    """The targets in words: wall time against SimPy per engine, the million-job run."""
    lines = []
    mmc_rows = frame[frame["case"] == "mmc"]
    for (servers, engine, backend), part in mmc_rows.groupby(
        ["workers", "engine", "backend"], sort=False
    ):
        target = TARGETS.get((engine, backend))
        on = f" on {backend}" if backend != "-" else ""
        lines.append(
            f"M/M/{servers} ({part['jobs'].iloc[0]:,} jobs), {engine}{on}: jobsim / SimPy wall "
            f"time {part['ratio'].median():.2f}x (CPU {part['cpu_ratio'].median():.2f}x; "
            f"target <= {target}); mean wait {part['wait_mean_s'].mean():.4f} s, SimPy "
            f"{part['baseline_wait_mean_s'].mean():.4f} s, Erlang C "
            f"{part['theory_wq_s'].iloc[0]:.4f} s"
        )
    for _, row in frame[frame["case"] == "million"].iterrows():
        lines.append(
            f"recursion, {row['jobs']:,} jobs in a fresh process: {row['wall_s']:.2f} s wall, "
            f"{row['cpu_s']:.2f} s CPU (target < 10 s); the run's peak memory "
            f"{row['memory_ratio'] * MEMORY_BUDGET_MB:,.0f} MB (target < "
            f"{MEMORY_BUDGET_MB:.0f}), the whole process's with interpreter and imports "
            f"{row['process_memory_ratio'] * MEMORY_BUDGET_MB:,.0f} MB"
        )
    return lines
