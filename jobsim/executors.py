"""Where a study's runs run: this process, a local process pool, or a Dask cluster.

:func:`execute` takes planned runs (:data:`Task`: picklable, each with its own seed) and an
executor (``"serial"``, ``"processes"``, a ``dask.distributed.Client`` or any
``concurrent.futures.Executor``) and returns their rows in planned order, whatever finished
first, so a study's frame does not depend on what ran it. ``"processes"`` is one spawn pool per
process, started by the first study that asks and reused by the later ones.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import multiprocessing
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from jobsim.workload import Workload

__all__ = ["AUTO_PROCESSES", "Task", "cores", "execute", "run_one"]

#: ``executor="auto"`` uses processes from this many runs on (virtual clock only).
AUTO_PROCESSES = 16

_EXECUTORS = ("auto", "serial", "processes")
_SETTINGS = ("clock", "backend", "engine", "wall_time")

Task = tuple[Workload, dict[str, Any], dict[str, Any], Any]


# --- one run, anywhere ------------------------------------------------------------------------


def run_one(task: Task) -> tuple[dict[str, Any], list[tuple[type[Warning], str]]]:
    """Run one planned simulation and return its row and the warnings it raised.

    A module-level function of picklable arguments, so a process pool or a Dask worker can
    run it: ``(workload, simulate options, extra columns, warmup)``.
    """
    from jobsim.simulate import simulate

    workload, options, columns, warmup = task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = simulate(workload, **options)
        if warmup is not None:
            result = (
                result.steady(warmup)
                if isinstance(warmup, str)
                else result.steady(seconds=float(warmup))
            )
    row = columns | result.summary | {k: result.settings.get(k) for k in _SETTINGS}
    return row, [(w.category, str(w.message)) for w in caught]


def _check_executor(executor: Any) -> None:
    if isinstance(executor, str):
        if executor not in _EXECUTORS:
            raise ValueError(
                f"executor must be one of {', '.join(map(repr, _EXECUTORS))} or a "
                f"dask.distributed.Client; got {executor!r}"
            )
    elif not (_is_dask(executor) or isinstance(executor, concurrent.futures.Executor)):
        raise TypeError(
            "executor must be 'auto', 'serial', 'processes', a dask.distributed.Client or a "
            f"concurrent.futures.Executor; got {type(executor).__name__}"
        )


def _is_dask(executor: Any) -> bool:
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "gather")


def cores() -> int:
    """The cores this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _resolve(executor: Any, runs: int, clock: str) -> Any:
    if executor != "auto":
        return executor
    parallel = clock == "virtual" and runs >= AUTO_PROCESSES and cores() > 1
    return "processes" if parallel else "serial"


def execute(
    tasks: Sequence[Task], executor: Any, *, progress: bool, desc: str
) -> list[dict[str, Any]]:
    """Run ``tasks`` with ``executor``; rows in task order, a tqdm bar over completions, the
    runs' warnings raised here once each (a backpressure warning per run would drown)."""
    from tqdm.auto import tqdm

    results: list[Any] = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress)
    try:
        for index, outcome in _completions(tasks, executor):
            results[index] = outcome
            bar.update()
    finally:
        bar.close()
    _rewarn([caught for _, caught in results], desc=desc)
    return [row for row, _ in results]


def _rewarn(caught: list[list[tuple[type[Warning], str]]], *, desc: str) -> None:
    """Pass on the runs' warnings: each distinct one once (with how many runs raised it), the
    backpressure warnings (whose numbers differ run to run) as one."""
    from jobsim.records import BackpressureWarning

    seen: dict[tuple[type[Warning], str], int] = {}
    blocked: list[str] = []
    for run in caught:
        for category, message in run:
            if issubclass(category, BackpressureWarning):
                blocked.append(message)
            else:
                seen[(category, message)] = seen.get((category, message), 0) + 1
    for (category, message), count in seen.items():
        times = f" ({count} of {len(caught)} runs)" if count > 1 else ""
        warnings.warn(message + times, category, stacklevel=4)
    if blocked:
        warnings.warn(
            f"{len(blocked)} of {len(caught)} runs of this {desc}; the first: {blocked[0]}",
            BackpressureWarning,
            stacklevel=4,
        )


def _completions(tasks: Sequence[Task], executor: Any) -> Iterable[tuple[int, Any]]:
    if executor == "serial" or len(tasks) <= 1:
        yield from enumerate(map(run_one, tasks))
        return
    if _is_dask(executor):
        from distributed import as_completed

        futures = executor.map(run_one, list(tasks), pure=False)
        where = {future.key: n for n, future in enumerate(futures)}
        for future, outcome in as_completed(futures, with_results=True):
            yield where[future.key], outcome
        return
    if executor == "processes":
        pool = _process_pool()
        try:
            yield from _from_executor(pool, tasks)
        except concurrent.futures.process.BrokenProcessPool:
            _discard(pool)  # a worker died (killed, out of memory): the next study starts afresh
            raise
        return
    yield from _from_executor(executor, tasks)


def _from_executor(pool: concurrent.futures.Executor, tasks: Sequence[Task]) -> Iterable[Any]:
    futures = {pool.submit(run_one, task): n for n, task in enumerate(tasks)}
    try:
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()
    finally:  # a study that stopped early (its interval was narrow enough) frees the workers
        for future in futures:
            future.cancel()


_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """The process pool of ``executor="processes"``, one per process, sized to the cores.

    Starting it costs a second or two (each worker imports jobsim, numpy and pandas), as much
    as a whole study of short runs, so the first study pays that and the later ones reuse the
    workers; they stop when this process exits. ``spawn``: a fresh interpreter per worker,
    safe whatever threads this process runs (Jupyter's, the simulate helper thread) and the
    same on every platform.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=cores(), mp_context=multiprocessing.get_context("spawn")
            )
            atexit.register(_discard, _pool)  # before the interpreter tears its modules down
        return _pool


def _discard(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    atexit.unregister(_discard)
    pool.shutdown(wait=False, cancel_futures=True)
