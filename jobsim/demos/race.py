"""The duplicate race: every job delivered twice, a racy claim runs some of them twice.

:func:`duplicate_race` runs a real :class:`~jobsim.WorkerPool` in virtual time and delivers
each job ``deliveries`` times in a row. :class:`~jobsim.RacyStore` (check, checkpoint, set)
lets two workers claim the same job; the atomic claim of :class:`~jobsim.InMemoryJobStore`
turns the second delivery away. One rule names the duplicate everywhere (events, runs,
counts): a job's first run is the one that *started* first; every later start is a duplicate.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

import anyio

from jobsim.clock import run as run_on_clock
from jobsim.demos.recording import Recorder, check_count, jobs_frame, print_log
from jobsim.domain import Job
from jobsim.events import WORKER_EVENTS, TraceEvent
from jobsim.pool import WorkerPool
from jobsim.stores import InMemoryJobStore, RacyStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OPTIONS", "DuplicateRaceReport", "duplicate_race", "narrate"]

_STORES = ("racy", "memory")


@dataclass(frozen=True)
class DuplicateRaceReport:
    """What :func:`duplicate_race` saw.

    Attributes:
        store: ``"racy"`` or ``"memory"``.
        workers, job_count, deliveries, seed: the run's parameters.
        run_counts: handler runs per job id (1 everywhere means exactly once).
        skipped: deliveries whose claim lost (the store said "already taken").
        jobs: one row per job: ``id``, ``runs`` and the store's fields.
        runs: one row per handler run, in the order the runs finished: ``job_id``,
            ``worker_id``, ``started``, ``finished``, ``start_order`` (1 for the job's run
            that started first, 2 for the next, ...) and ``status`` (``completed`` for the
            run that started first, ``duplicate`` for every later one): feed it to
            :func:`jobsim.plot.timeline`.
        events: every pool event in order (``time``, ``actor``, ``event``, ``problem``,
            ``job_id``); the start of every duplicate run is flagged as a problem.
    """

    store: str
    workers: int
    job_count: int
    deliveries: int
    seed: int
    run_counts: dict[str, int]
    skipped: int
    jobs: pd.DataFrame = field(repr=False)
    runs: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)

    @property
    def total_runs(self) -> int:
        """Handler runs in all."""
        return sum(self.run_counts.values())

    @property
    def duplicates(self) -> int:
        """Extra runs: handler runs beyond one per job (0 means exactly once)."""
        return sum(n - 1 for n in self.run_counts.values() if n > 1)

    @property
    def jobs_run_more_than_once(self) -> int:
        """How many jobs ran more than once."""
        return sum(1 for n in self.run_counts.values() if n > 1)


def duplicate_race(
    store: Literal["racy", "memory"] = "racy",
    workers: int = 10,
    jobs: int = 20,
    deliveries: int = 2,
    seed: int = 0,
) -> DuplicateRaceReport:
    """Deliver every job ``deliveries`` times to a real pool and count how often each ran.

    The duplicate deliveries follow each other on the channel (a broker redelivering, a
    client retrying), so two idle workers often take the same job id at the same moment.
    With ``store="racy"`` both read ``pending`` before either writes ``processing`` and both
    run it; ``store="memory"`` claims atomically and the second worker skips it. Each run
    takes 0.1, 0.2 or 0.3 s of virtual time drawn with ``seed``, so which deliveries meet
    depends on the seed -- the race is intermittent -- but the same seed gives the same
    counts. A job's duplicate runs are those that started after its first run started.
    """
    if store not in _STORES:
        raise ValueError(f"store must be one of {', '.join(_STORES)}, got {store!r}")
    check_count("workers", workers)
    check_count("jobs", jobs)
    check_count("deliveries", deliveries)
    check_count("seed", seed, 0)
    rng = random.Random(seed)

    async def run() -> DuplicateRaceReport:
        the_store = RacyStore() if store == "racy" else InMemoryJobStore()
        runs: Counter[str] = Counter()
        rec = Recorder()
        started: Counter[str] = Counter()  # runs started per job: the start order
        open_runs: dict[tuple[str, str], tuple[float, int]] = {}
        run_rows: list[dict[str, Any]] = []

        def tracer(event: TraceEvent, at: float, job_id: str, worker_id: str | None) -> None:
            if event in WORKER_EVENTS:
                return
            text, problem = f"{event} {job_id}", False
            if event is TraceEvent.STARTED and worker_id is not None:
                started[job_id] += 1
                open_runs[job_id, worker_id] = (at, started[job_id])
                if started[job_id] > 1:
                    text, problem = f"started {job_id} AGAIN: a duplicate run", True
            rec.detail(worker_id or "producer", text, at=at, job_id=job_id, problem=problem)
            if event in (TraceEvent.COMPLETED, TraceEvent.FAILED) and worker_id is not None:
                began, order = open_runs.pop((job_id, worker_id))
                run_rows.append(
                    {
                        "job_id": job_id,
                        "worker_id": worker_id,
                        "started": began,
                        "finished": at,
                        "start_order": order,
                        "status": "completed" if order == 1 else "duplicate",
                    }
                )

        async def handler(job: Job) -> str:
            runs[job.id] += 1
            await anyio.sleep(rng.choice((0.1, 0.2, 0.3)))
            return "done"

        pool = WorkerPool(
            the_store, handler, workers=workers, capacity=jobs * deliveries, tracer=tracer
        )
        async with pool:
            for n in range(1, jobs + 1):
                job = await pool.submit(Job(id=f"job-{n:02d}"))
                for _ in range(deliveries - 1):
                    await pool.deliver(job.id)
            report = await pool.shutdown()
        stored = await the_store.list()
        import pandas as pd

        frame = jobs_frame(stored)
        frame.insert(1, "runs", [runs[j.id] for j in stored])
        columns = ["job_id", "worker_id", "started", "finished", "start_order", "status"]
        return DuplicateRaceReport(
            store=store,
            workers=workers,
            job_count=jobs,
            deliveries=deliveries,
            seed=seed,
            run_counts={j.id: runs[j.id] for j in stored},
            skipped=report.duplicates_skipped,
            jobs=frame,
            runs=pd.DataFrame(run_rows, columns=columns),
            events=rec.frame(rec.trace),
        )

    return run_on_clock(run, backend="asyncio", clock="virtual")


# -- at the terminal --------------------------------------------------------------------------

#: Command-line options of ``python -m jobsim demo duplicate-race`` (argparse keywords).
OPTIONS: dict[str, dict[str, Any]] = {
    "--workers": {"type": int, "default": 10, "help": "workers in the pool (default 10)"},
    "--jobs": {"type": int, "default": 20, "help": "jobs (default 20)"},
    "--deliveries": {"type": int, "default": 2, "help": "deliveries of each job (default 2)"},
    "--seed": {"type": int, "default": 0, "help": "seed of the job durations (default 0)"},
}


def narrate(args: argparse.Namespace, out: TextIO) -> None:
    """Tell the race at the terminal: who started and who skipped what, then the counts."""
    store: Literal["racy", "memory"] = "memory" if args.fixed else "racy"
    described = (
        "InMemoryJobStore (atomic claim)"
        if args.fixed
        else "RacyStore (check, then a checkpoint, then set)"
    )
    report = duplicate_race(
        store, workers=args.workers, jobs=args.jobs, deliveries=args.deliveries, seed=args.seed
    )
    print(
        f"Duplicate race: {args.jobs} jobs, each delivered {args.deliveries} times in a row, "
        f"{args.workers} workers, {described}; seed {args.seed}.\n"
        "Watch for two workers starting the same job.\n",
        file=out,
    )
    events = report.events
    print_log(events[events["event"].str.match(r"(started|skipped) ")], out)
    print(
        f"\n{report.total_runs} handler runs for {report.job_count} jobs: "
        f"{report.duplicates} duplicate run(s), {report.jobs_run_more_than_once} job(s) ran "
        f"more than once, {report.skipped} delivery(ies) skipped by the claim.",
        file=out,
    )
    if report.duplicates:
        print(
            "Two workers both read 'pending' before either wrote 'processing'. The fix is an "
            "atomic claim: run with --fixed.",
            file=out,
        )
    else:
        print("Every job ran exactly once: the atomic claim turned the duplicates away.", file=out)
