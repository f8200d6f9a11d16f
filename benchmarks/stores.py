"""Suite "stores": claims per second per store, against a raw claim loop in the same run.

For each store (``memory``, ``sqlite``, ``postgresql``) and 1, 4 and 16 concurrent claimers,
``jobs`` pending jobs are claimed until none is left, twice per repeat:

* ``variant="jobsim"``: claimer tasks calling the store (``claim_next(worker, lease)`` for the
  SQL stores, the pull-mode hot path; ``claim(job_id, worker)`` for memory, which has no
  ``claim_next``), on the event loop (``backend``);
* ``variant="raw"``: the same claim with nothing of jobsim around it: the *same SQL
  statement* (:data:`jobsim.stores.sqlite.CLAIM_NEXT_SQL`,
  :func:`jobsim.stores.postgres.claim_next_sql`) executed in a plain loop, one thread and one
  connection per claimer; for memory, the check-and-set on the job objects inline.

``throughput_jobs_s`` is claims per second; ``ratio`` is jobsim / raw in the same repeat
(1.0 on raw rows). Target for the SQL stores: ratio >= 0.5. Memory has no statement to
compare with; its raw row is the bare check-and-set, a reference for the cost of a coroutine
call per claim (it claims ``MEMORY_SCALE`` times more jobs, to last long enough to time).

PostgreSQL: ``postgres_url=`` (or ``$JOBSIM_BENCH_POSTGRES_URL``) names a server to use (a
fresh table per run, dropped afterwards); otherwise a throwaway local server is started
(:class:`jobsim.stores.pgtemp.TemporaryPostgres`), and the rows are left out with a note if
no server binaries exist.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pandas as pd

from benchmarks._harness import Options
from jobsim import InMemoryJobStore, Job, JobStatus

__all__ = ["DEFAULT_CLAIMERS", "notes", "plot", "run"]

DEFAULT_CLAIMERS: tuple[int, ...] = (1, 4, 16)
DEFAULT_JOBS = 2000
QUICK_JOBS = 300
STORES: tuple[str, ...] = ("memory", "sqlite", "postgresql")
LEASE = 60.0
#: The in-memory store is ~100x faster: claim more jobs so a run lasts long enough to time.
MEMORY_SCALE = 20

_skipped: dict[str, str] = {}


# -- jobsim side --------------------------------------------------------------------------------


async def _claim_all(store: Any, claimers: int, ids: list[str] | None) -> float:
    """Claim until nothing is left with ``claimers`` tasks; returns elapsed seconds."""
    claimed = 0

    async def next_sql(i: int) -> None:
        nonlocal claimed
        worker = f"bench-{i}"
        while await store.claim_next(worker, LEASE) is not None:
            claimed += 1

    queue = list(reversed(ids or []))

    async def by_id(i: int) -> None:
        nonlocal claimed
        worker = f"bench-{i}"
        while queue:
            if await store.claim(queue.pop(), worker):
                claimed += 1

    body = by_id if ids is not None else next_sql
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(claimers):
            tg.start_soon(body, i)
    elapsed = time.perf_counter() - start
    expected = len(ids) if ids is not None else None
    if expected is not None and claimed != expected:
        raise AssertionError(f"claimed {claimed} of {expected} jobs")
    return elapsed


def _jobs(n: int) -> list[Job]:
    return [Job(type="bench") for _ in range(n)]


def _run_memory(jobs: int, claimers: int, backend: str) -> tuple[float, float]:
    async def jobsim_side() -> float:
        store = InMemoryJobStore()
        batch = _jobs(jobs)
        for job in batch:
            await store.add(job)
        return await _claim_all(store, claimers, [j.id for j in batch])

    t_jobsim = anyio.run(jobsim_side, backend=backend)
    # Raw: the same check-and-set on the same kind of objects, inline, no store, no await.
    batch = _jobs(jobs)
    pending, processing = JobStatus.PENDING, JobStatus.PROCESSING
    start = time.perf_counter()
    for job in batch:
        if job.status is pending:
            job.status = processing
            job.worker_id = "raw"
            job.attempts += 1
            job.started = time.time()
    t_raw = time.perf_counter() - start
    return t_jobsim, t_raw


def _raw_threads(claimers: int, make: Callable[[], Callable[[], int]], expected: int) -> float:
    """In each of ``claimers`` threads: connect (``make()``), then run the returned claim
    loop (it returns the claims it made); elapsed seconds of the loops."""
    counts: list[int] = []
    barrier = threading.Barrier(claimers + 1)

    def body() -> None:
        claim = make()  # connects
        barrier.wait()
        counts.append(claim())

    threads = [threading.Thread(target=body) for _ in range(claimers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if sum(counts) != expected:
        raise AssertionError(f"raw loop claimed {sum(counts)} of {expected} jobs")
    return elapsed


def _run_sqlite(jobs: int, claimers: int, backend: str, tmp: Path) -> tuple[float, float]:
    from jobsim.stores.sqlite import CLAIM_NEXT_SQL, SQLiteJobStore, connect

    def seeded(name: str) -> Path:
        path = tmp / f"{name}-{uuid.uuid4().hex[:8]}.db"

        async def seed() -> None:
            store = await SQLiteJobStore.open(path)
            await store.add_many(_jobs(jobs))
            await store.close()

        anyio.run(seed, backend=backend)
        return path

    path = seeded("jobsim")

    async def jobsim_side() -> float:
        store = await SQLiteJobStore.open(path)
        try:
            return await _claim_all(store, claimers, None)
        finally:
            await store.close()

    t_jobsim = anyio.run(jobsim_side, backend=backend)

    raw_path = seeded("raw")

    def make_loop() -> Callable[[], int]:
        conn = connect(raw_path)

        def claim() -> int:
            n = 0
            while True:
                now = time.time()
                if conn.execute(CLAIM_NEXT_SQL, ("raw", now, now + LEASE, now)).fetchone() is None:
                    conn.close()
                    return n
                n += 1

        return claim

    t_raw = _raw_threads(claimers, make_loop, jobs)
    return t_jobsim, t_raw


def _run_postgres(jobs: int, claimers: int, backend: str, url: str) -> tuple[float, float]:
    import psycopg

    from jobsim.stores.postgres import PostgresJobStore, claim_next_sql

    def seeded() -> str:
        table = f"bench_{uuid.uuid4().hex[:12]}"

        async def seed() -> None:
            store = await PostgresJobStore.connect(url, table=table)
            await store.add_many(_jobs(jobs))
            await store.close()

        anyio.run(seed, backend=backend)
        return table

    def drop(table: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"DROP FUNCTION IF EXISTS {table}_notify()")

    table = seeded()
    try:

        async def jobsim_side() -> float:
            store = await PostgresJobStore.connect(url, table=table, max_connections=claimers)
            try:
                return await _claim_all(store, claimers, None)
            finally:
                await store.close()

        t_jobsim = anyio.run(jobsim_side, backend=backend)
    finally:
        drop(table)

    raw_table = seeded()
    sql = claim_next_sql(raw_table)
    try:

        def make_loop() -> Callable[[], int]:
            conn = psycopg.connect(url, autocommit=True)

            def claim() -> int:
                n = 0
                with conn:
                    while conn.execute(sql, ("raw", None, LEASE)).fetchone() is not None:
                        n += 1
                return n

            return claim

        t_raw = _raw_threads(claimers, make_loop, jobs)
    finally:
        drop(raw_table)
    return t_jobsim, t_raw


@contextmanager
def _postgres(url: str | None) -> Iterator[str | None]:
    """The server to use: the given URL, else a throwaway one, else None (with a note)."""
    url = url or os.environ.get("JOBSIM_BENCH_POSTGRES_URL")
    if url:
        yield url
        return
    from jobsim.stores.pgtemp import PostgresUnavailable, TemporaryPostgres

    try:
        server = TemporaryPostgres().start()
    except PostgresUnavailable as exc:
        _skipped["postgresql"] = str(exc)
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()


def run(
    options: Options | None = None,
    /,
    *,
    stores: list[str] | None = None,
    postgres_url: str | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Claims/s per store and claimer count, jobsim vs the raw claim loop (tidy rows).

    ``options`` (:class:`~benchmarks._harness.Options`, or its fields as keywords):
    ``workers``: concurrent claimers; ``jobs``: jobs per run; ``backend``; ``quick``;
    ``clock``: real only. ``stores``: which of the stores to measure; ``postgres_url``: a
    server to use (default: a throwaway one from the installed binaries).
    """
    o = Options.of(options, **changes)
    o.require_clock("real", suite="stores", why="measures real time only")
    quick, repeat, workers, jobs = o.quick, o.repeat, o.workers, o.jobs
    backend = o.backend or "asyncio"
    wanted = list(stores or STORES)
    unknown = set(wanted) - set(STORES)
    if unknown:
        raise ValueError(f"unknown store(s) {sorted(unknown)}; choose from {list(STORES)}")
    claimer_counts = list(workers or DEFAULT_CLAIMERS)
    n = jobs or (QUICK_JOBS if quick else DEFAULT_JOBS)
    _skipped.clear()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="jobsim-bench-stores-") as tmp,
        _postgres(postgres_url if "postgresql" in wanted else "unused") as pg_url,
    ):
        for rep in range(repeat):
            for store in wanted:
                for claimers in claimer_counts:
                    size = n * MEMORY_SCALE if store == "memory" else n
                    if store == "memory":
                        t_jobsim, t_raw = _run_memory(size, claimers, backend)
                    elif store == "sqlite":
                        t_jobsim, t_raw = _run_sqlite(n, claimers, backend, Path(tmp))
                    else:
                        if pg_url is None:
                            continue
                        t_jobsim, t_raw = _run_postgres(n, claimers, backend, pg_url)
                    base = {
                        "suite": "stores",
                        "backend": backend,
                        "clock": "real",
                        "store": store,
                        "workers": claimers,
                        "repeat": rep,
                        "jobs": size,
                    }
                    rows.append(
                        {
                            **base,
                            "variant": "jobsim",
                            "makespan_s": t_jobsim,
                            "throughput_jobs_s": size / t_jobsim,
                            "ratio": t_raw / t_jobsim,
                        }
                    )
                    rows.append(
                        {
                            **base,
                            "variant": "raw",
                            "makespan_s": t_raw,
                            "throughput_jobs_s": size / t_raw,
                            "ratio": 1.0,
                        }
                    )
    return pd.DataFrame(rows)


def notes(frame: pd.DataFrame) -> list[str]:
    """One line per store and claimer count: median claims/s and ratio to raw vs the target."""
    lines = ["throughput_jobs_s = claims/s; ratio = jobsim / raw claim loop (target >= 0.5)"]
    jobsim = frame[frame["variant"] == "jobsim"]
    for (store, claimers), group in jobsim.groupby(["store", "workers"], sort=False):
        raw = frame[
            (frame["variant"] == "raw") & (frame["store"] == store) & (frame["workers"] == claimers)
        ]
        ratio = float(group["ratio"].median())
        if store == "memory":
            verdict = "no SQL: raw is the bare check-and-set, for reference"
        else:
            verdict = f"{'meets' if ratio >= 0.5 else 'BELOW'} the 0.5 target"
        lines.append(
            f"{store:<10} {claimers!s:>2} claimers: "
            f"jobsim {group['throughput_jobs_s'].median():>10,.0f}/s  "
            f"raw {raw['throughput_jobs_s'].median():>10,.0f}/s  ratio {ratio:.2f} ({verdict})"
        )
    for store, why in _skipped.items():
        lines.append(f"{store}: skipped ({why})")
    return lines


def plot(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``stores_claims.png``: median claims/s against claimers, one line per store and
    variant (solid: jobsim, dashed: raw), log scale (memory is ~100x the SQL stores)."""
    from benchmarks._harness import pyplot as _pyplot

    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (store, variant), group in frame.groupby(["store", "variant"], sort=False):
        medians = group.groupby("workers")["throughput_jobs_s"].median()
        ax.plot(
            medians.index,
            medians.values,
            marker="o",
            linestyle="-" if variant == "jobsim" else "--",
            label=f"{store} ({variant})",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent claimers")
    ax.set_ylabel("claims / s (median)")
    ax.set_title("Claims per second: jobsim stores vs the raw claim statement")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    path = out_dir / "stores_claims.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
