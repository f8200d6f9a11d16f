"""What the pool costs per job: no-op jobs through the full WorkerPool vs a bare queue pool.

Both sides run the same pre-built Job objects (built before either timer starts) through the
same awaited no-op handler with the same number of consumers and the same channel capacity,
in the same process, interleaved repeat by repeat:

* ``pool``: ``WorkerPool`` over an ``InMemoryJobStore``: submit (store add + channel send) ->
  a worker takes the id -> atomic claim -> get -> handler -> complete, then a drained
  shutdown. This is everything the real pool does per job.
* ``bare``: on asyncio, one producer and ``workers`` consumers on an ``asyncio.Queue``
  (``await q.put`` / ``await q.get``, handler awaited, no store, no claim). On trio there is no
  asyncio.Queue, so the baseline is the same shape on a trio memory channel written the fast
  way (``send_nowait``/``receive_nowait`` first, awaiting only when it must wait).

* ``priority``: the same ``WorkerPool`` with ``dispatch="priority"`` (a bounded priority
  queue instead of the channel). ``per_job_vs_fifo`` = its seconds per job / the FIFO pool's
  in the same backend, loop and repeat (target <= 1.3). Every job carries one of four
  priorities, on both sides.

* ``batch``: the FIFO ``WorkerPool`` fed by one ``submit_many(jobs)`` instead of a
  ``submit`` per job; ``per_job_vs_fifo`` as for ``priority``.
* ``job``: building the same ``Job`` objects (``Job(type="noop", priority=i % 4)``, as
  every run above does before its timer starts), a thousand at a time, no event loop
  (backend and loop ``none``). Its ``ratio`` is Jobs built per second / the asyncio.Queue
  baseline's jobs per second in the same repeat: how many bare-queue passes one ``Job()``
  costs is its inverse.

``ratio`` = pool jobs/s / bare jobs/s on the same backend, loop and repeat (target >= 0.5,
moonshot 0.75). ``cpu_ratio`` is the same in process CPU time (``cpu_s``: the bare run's CPU
seconds over the pool's, same jobs), steadier on a shared machine: load only adds wall time.
``ratio_vs_asyncio_bare`` additionally compares every pool run with the
asyncio.Queue baseline on asyncio's own loop (measured in the same process) so trio's and
uvloop's figures can be read against one fixed yardstick. ``loop`` says which event loop ran
(``--loop uvloop`` adds the asyncio runs on uvloop, pool and bare).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import pandas as pd
from tqdm.auto import tqdm

from benchmarks._harness import Options, order_columns, plot_bars
from jobsim import InMemoryJobStore, Job, WorkerPool
from jobsim.clock import backend_options

__all__ = ["notes", "plot", "run"]

DEFAULT_JOBS = 200_000
QUICK_JOBS = 20_000
DEFAULT_WORKERS = 10
CAPACITY = 100


async def _noop(job: Job) -> None:
    return None


class _Timed(NamedTuple):
    """A timed region: wall seconds and the process's CPU seconds."""

    wall: float
    cpu: float


def _start() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> _Timed:
    return _Timed(time.perf_counter() - start[0], time.process_time() - start[1])


def _jobs(n: int) -> list[Job]:
    return [Job(type="noop", priority=i % 4) for i in range(n)]


async def _pool(
    jobs: list[Job], workers: int, dispatch: str = "fifo", *, batch: bool = False
) -> _Timed:
    store = InMemoryJobStore()
    async with WorkerPool(
        store, _noop, workers=workers, capacity=CAPACITY, dispatch=dispatch
    ) as pool:
        start = _start()
        if batch:
            await pool.submit_many(jobs)
        else:
            for job in jobs:
                await pool.submit(job)
        report = await pool.shutdown()
        elapsed = _since(start)
    if report.completed != len(jobs):
        raise RuntimeError(f"pool lost jobs: {report}")
    return elapsed


async def _bare_asyncio(jobs: list[Job], workers: int) -> _Timed:
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=CAPACITY)
    done = 0

    async def consumer() -> None:
        nonlocal done
        while True:
            job = await queue.get()
            if job is None:
                return
            await _noop(job)
            done += 1

    tasks = [asyncio.ensure_future(consumer()) for _ in range(workers)]
    start = _start()  # like the pool's: workers exist, none has run a job yet
    for job in jobs:
        await queue.put(job)
    for _ in range(workers):
        await queue.put(None)
    await asyncio.gather(*tasks)
    elapsed = _since(start)
    if done != len(jobs):
        raise RuntimeError(f"bare asyncio pool ran {done} of {len(jobs)} jobs")
    return elapsed


async def _bare_trio(jobs: list[Job], workers: int) -> _Timed:
    import trio

    send, receive = trio.open_memory_channel[Job](CAPACITY)
    done = 0

    async def consumer() -> None:
        nonlocal done
        while True:
            try:
                job = receive.receive_nowait()
            except trio.WouldBlock:
                try:
                    job = await receive.receive()
                except trio.EndOfChannel:
                    return
            except trio.EndOfChannel:
                return
            await _noop(job)
            done += 1

    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(consumer)
        start = _start()
        async with send:
            for job in jobs:
                try:
                    send.send_nowait(job)
                except trio.WouldBlock:
                    await send.send(job)
    elapsed = _since(start)
    if done != len(jobs):
        raise RuntimeError(f"bare trio pool ran {done} of {len(jobs)} jobs")
    return elapsed


async def _priority_pool(jobs: list[Job], workers: int) -> _Timed:
    return await _pool(jobs, workers, dispatch="priority")


async def _batch_pool(jobs: list[Job], workers: int) -> _Timed:
    return await _pool(jobs, workers, batch=True)


Runner = Callable[[list[Job], int], Awaitable[_Timed]]


def _build(n: int) -> _Timed:
    """Seconds to build ``n`` of the benchmark's jobs, a thousand at a time (the ``job`` row):
    the cost of ``Job()`` itself, not of the collector walking a growing heap of live jobs,
    which depends on everything else the process holds."""
    chunks, rest = divmod(n, 1_000)
    start = _start()
    for _ in range(chunks):
        _jobs(1_000)
    _jobs(rest)
    return _since(start)


def _measure(backend: str, loop: str, variant: str, n: int, workers: int) -> _Timed:
    """One timed run on a fresh event loop; the Job objects are built before the timer."""
    if variant == "job":
        return _build(n)
    runner: Runner
    if variant == "pool":
        runner = _pool
    elif variant == "priority":
        runner = _priority_pool
    elif variant == "batch":
        runner = _batch_pool
    elif backend == "asyncio":
        runner = _bare_asyncio
    else:
        runner = _bare_trio
    jobs = _jobs(n)
    options = backend_options(backend, "real", loop)
    timed: _Timed = anyio.run(runner, jobs, workers, backend=backend, backend_options=options)
    return timed


def run(options: Options | None = None, /, **changes: Any) -> pd.DataFrame:
    """Pool vs bare-queue throughput on no-op jobs; one tidy row per run.

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``quick``: 20,000 jobs instead of 200,000; ``repeat``: recorded runs per (backend, loop,
    variant), after one discarded warm-up of each; ``workers``: consumers on both sides (the
    first value; default 10); ``backend``: asyncio, trio or None (both; the asyncio.Queue
    baseline is always measured too: the yardstick for ``ratio_vs_asyncio_bare``); ``loop``:
    ``"uvloop"`` adds the asyncio runs on uvloop (pool and bare), in the same run; ``clock``:
    real only.
    """
    o = Options.of(options, **changes)
    o.require_clock("real", suite="overhead", why="measures wall time")
    n = o.jobs or (QUICK_JOBS if o.quick else DEFAULT_JOBS)
    w = (o.workers or (DEFAULT_WORKERS,))[0]
    backends = ["asyncio", "trio"] if o.backend is None else [o.backend]
    repeat, progress, loop = o.repeat, o.progress, o.loop
    loops = {"asyncio": ["asyncio", *([loop] if loop not in (None, "asyncio") else [])]}
    variants = ("pool", "priority", "batch", "bare")
    plan = [(b, lp, v) for b in backends for lp in loops.get(b, [b]) for v in variants]
    if ("asyncio", "asyncio", "bare") not in plan:
        plan.append(("asyncio", "asyncio", "bare"))
    plan.append(("none", "none", "job"))
    warm = max(1_000, n // 10)
    rows: list[dict[str, Any]] = []
    with tqdm(
        total=len(plan) * (repeat + 1),
        desc="overhead",
        unit="run",
        disable=not progress,
        leave=False,
    ) as bar:
        for b, lp, v in plan:  # warm-up: one smaller run of each, discarded
            bar.set_postfix_str(f"warm-up {b} {lp} {v}")
            _measure(b, _loop(lp), v, warm, w)
            bar.update()
        for r in range(repeat):
            for b, lp, v in plan:
                bar.set_postfix_str(f"{b} {lp} {v}")
                timed = _measure(b, _loop(lp), v, n, w)
                rows.append(
                    {
                        "suite": "overhead",
                        "backend": b,
                        "loop": lp,
                        "clock": "real",
                        "store": "memory" if v in _BASELINES and v != "job" else "none",
                        "workers": w,
                        "repeat": r,
                        "jobs": n,
                        "makespan_s": timed.wall,
                        "throughput_jobs_s": n / timed.wall,
                        "cpu_s": timed.cpu,
                        "variant": v,
                        "baseline": _BASELINES.get(v)
                        or ("asyncio.Queue" if b == "asyncio" else "trio memory channel"),
                    }
                )
                bar.update()
    frame = pd.DataFrame(rows)
    by = ["backend", "loop", "repeat"]
    bare = frame[frame["variant"] == "bare"].set_index(by)["throughput_jobs_s"]
    fifo = frame[frame["variant"] == "pool"].set_index(by)["makespan_s"]
    prio = frame["variant"].isin(["priority", "batch"])
    prio_keys = list(frame.loc[prio, by].itertuples(index=False, name=None))
    frame.loc[prio, "per_job_vs_fifo"] = (
        frame.loc[prio, "makespan_s"].to_numpy() / fifo.loc[prio_keys].to_numpy()
    )
    pool = frame["variant"].isin(["pool", "priority", "batch", "job"])
    keys = list(frame.loc[pool, by].itertuples(index=False, name=None))
    keys = [("asyncio", "asyncio", r) if b == "none" else (b, lp, r) for b, lp, r in keys]
    frame.loc[pool, "ratio"] = (
        frame.loc[pool, "throughput_jobs_s"].to_numpy() / bare.loc[keys].to_numpy()
    )
    bare_cpu = frame[frame["variant"] == "bare"].set_index(by)["cpu_s"]
    frame.loc[pool, "cpu_ratio"] = bare_cpu.loc[keys].to_numpy() / frame.loc[pool, "cpu_s"]
    yardstick = [bare.loc[("asyncio", "asyncio", r)] for r in frame.loc[pool, "repeat"]]
    frame.loc[pool, "ratio_vs_asyncio_bare"] = (
        frame.loc[pool, "throughput_jobs_s"].to_numpy() / yardstick
    )
    # Only the asyncio baseline runs when backend="trio" was asked for: keep it, it's the yardstick.
    return order_columns(frame)


_BASELINES = {
    "pool": "WorkerPool",
    "priority": "WorkerPool, priority dispatch",
    "batch": "WorkerPool, submit_many",
    "job": "Job() construction",
}


def _loop(label: str) -> str:
    return "uvloop" if label == "uvloop" else "asyncio"


def notes(frame: pd.DataFrame) -> list[str]:
    """Pool / bare ratio per backend and loop (wall and CPU time), against the 0.5 target;
    uvloop against asyncio's own loop."""
    lines = []
    pools = frame[frame["variant"] == "pool"]
    for (backend, loop), group in pools.groupby(["backend", "loop"], sort=False):
        bare = frame[
            (frame["variant"] == "bare") & (frame["backend"] == backend) & (frame["loop"] == loop)
        ]
        base = bare["baseline"].iloc[0] if not bare.empty else "asyncio.Queue"
        on = f" on {loop}" if loop != backend else ""
        lines.append(
            f"{backend}{on}: pool {group['throughput_jobs_s'].median():,.0f} jobs/s = "
            f"{group['ratio'].median():.2f}x bare {base}, "
            f"{group['cpu_ratio'].median():.2f}x in CPU time (target >= 0.5, moonshot 0.75); "
            f"{group['ratio_vs_asyncio_bare'].median():.2f}x the asyncio.Queue baseline"
        )
    for (backend, loop), group in frame[frame["variant"] == "priority"].groupby(
        ["backend", "loop"], sort=False
    ):
        on = f" on {loop}" if loop != backend else ""
        lines.append(
            f"{backend}{on}: priority dispatch takes {group['per_job_vs_fifo'].median():.2f}x "
            "the FIFO pool's time per job (target <= 1.3)"
        )
    for (backend, loop), group in frame[frame["variant"] == "batch"].groupby(
        ["backend", "loop"], sort=False
    ):
        on = f" on {loop}" if loop != backend else ""
        lines.append(
            f"{backend}{on}: submit_many takes {group['per_job_vs_fifo'].median():.2f}x the "
            f"time per job of a submit per job ({group['ratio'].median():.2f}x bare)"
        )
    built = frame[frame["variant"] == "job"]
    if not built.empty:
        ratio = built["ratio"].median()
        lines.append(
            f"Job(): {1e9 / built['throughput_jobs_s'].median():,.0f} ns each, "
            f"{1 / ratio:.2f}x a bare asyncio.Queue job's time (ratio {ratio:.2f})"
        )
    uv = pools[pools["loop"] == "uvloop"]
    plain = pools[(pools["backend"] == "asyncio") & (pools["loop"] == "asyncio")]
    if not uv.empty and not plain.empty:
        gain = uv["throughput_jobs_s"].median() / plain["throughput_jobs_s"].median()
        lines.append(
            f"uvloop: the pool runs {gain:.2f}x the no-op jobs/s of asyncio's own loop (same run)"
        )
    return lines


def plot(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``overhead_throughput.png``: jobs/s per backend, loop and variant (medians, 95% CI)."""
    return plot_bars(
        frame,
        out_dir,
        prefix="overhead",
        metric="throughput_jobs_s",
        by=("backend", "loop", "baseline"),
        ylabel="no-op jobs/s",
        title=f"overhead: WorkerPool vs bare queue ({int(frame['workers'].iloc[0])} workers)",
    )
