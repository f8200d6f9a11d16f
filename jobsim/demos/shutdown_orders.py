"""Shutdown orders: the original Go service stopped in the right order and in three wrong ones.

:func:`shutdown` runs :class:`~jobsim.demos.service.MiniService` (a producer, one bounded
channel, workers, a store) in virtual time and stops it in ``order``. The right order is the
real :meth:`WorkerPool.shutdown`; closing the channel first crashes the producer with
:class:`anyio.ClosedResourceError` (Go's "send on closed channel" panic); cancelling the
workers first or not waiting for them leaves jobs stuck ``processing`` and queued jobs never
run.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

from jobsim.clock import run as run_on_clock
from jobsim.demos.recording import Recorder, check_count, jobs_frame, print_log
from jobsim.demos.service import MiniService
from jobsim.domain import JobStatus
from jobsim.stores import InMemoryJobStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OPTIONS",
    "SHUTDOWN_ORDERS",
    "ShutdownDemoReport",
    "ShutdownOrder",
    "narrate",
    "shutdown",
]

ShutdownOrder = Literal["correct", "close-channel-first", "cancel-workers-first", "no-wait"]

#: The shutdown orders :func:`shutdown` knows, with what each does (for help texts).
SHUTDOWN_ORDERS: dict[str, str] = {
    "correct": "stop intake -> close the channel -> workers finish -> wait for every worker",
    "close-channel-first": "close the channel while the producer still sends",
    "cancel-workers-first": "cancel the workers while they run jobs, then stop intake",
    "no-wait": "stop intake, close the channel, exit without waiting for the workers",
}


@dataclass(frozen=True)
class ShutdownDemoReport:
    """What :func:`shutdown` saw.

    Attributes:
        order: the shutdown order that was run (see :data:`SHUTDOWN_ORDERS`).
        seed: seed of the job durations.
        events: who stopped when, in order, with short labels: ``time``, ``actor``,
            ``event``, ``problem`` (feed it to :func:`jobsim.plot.shutdown_sequence`).
        trace: the same events told in full, plus every job event (accepted, started,
            completed): what ``python -m jobsim demo shutdown`` prints.
        jobs: one row per accepted job with its final status (for :func:`jobsim.plot.timeline`).
        counts: accepted jobs by final status (every status present, zeros included).
        accepted: jobs the producer accepted (stored) before it stopped.
        stuck: jobs left ``processing``: no worker will ever finish or release them.
        lost: accepted jobs that never completed: stuck, or still pending when the process
            exited (the in-memory store dies with it).
        error: the exception that crashed the service, if one did (e.g. ``ClosedResourceError``).
    """

    order: str
    seed: int
    counts: dict[str, int]
    accepted: int
    stuck: int
    lost: int
    error: str | None
    events: pd.DataFrame = field(repr=False)
    trace: pd.DataFrame = field(repr=False)
    jobs: pd.DataFrame = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing was lost and nothing crashed."""
        return self.lost == 0 and self.error is None


def shutdown(
    order: ShutdownOrder = "correct",
    *,
    workers: int = 3,
    capacity: int = 4,
    jobs: int = 20,
    interval: float = 0.25,
    stop_at: float = 1.6,
    step: float = 0.1,
    seed: int = 0,
) -> ShutdownDemoReport:
    """Run the original Go service in miniature; stop it at ``stop_at`` virtual s in ``order``.

    A producer (the Go service's HTTP handler) accepts a job every ``interval`` seconds --
    stores it as pending, then sends its id into one bounded channel of ``capacity`` -- until
    it is told to stop or has accepted ``jobs``; ``workers`` workers claim ids off the
    channel and run each job for 0.6 to 1.4 s (drawn with ``seed``). ``main`` takes ``step``
    seconds between its shutdown steps (so that they are apart on a plot). ``"correct"``
    uses the real :class:`~jobsim.WorkerPool` and its :meth:`~jobsim.WorkerPool.shutdown`;
    the wrong orders use a hand-written service with naive workers, because the pool cannot
    be stopped wrongly.
    """
    if order not in SHUTDOWN_ORDERS:
        raise ValueError(f"order must be one of {', '.join(SHUTDOWN_ORDERS)}, got {order!r}")
    check_count("workers", workers)
    check_count("capacity", capacity)
    check_count("jobs", jobs)
    check_count("seed", seed, 0)
    for name, value in (("interval", interval), ("stop_at", stop_at), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not interval > 0:
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    rng = random.Random(seed)
    durations = [round(rng.uniform(0.6, 1.4), 2) for _ in range(jobs)]

    async def run() -> ShutdownDemoReport:
        store = InMemoryJobStore()
        rec = Recorder()
        service = MiniService(store, rec, workers, capacity, durations, interval, step)
        if order == "correct":
            await service.run_correct(stop_at)
        else:
            await service.run_wrong(order, stop_at)
        counts = await store.counts()
        stored = await store.list()
        stuck = counts[JobStatus.PROCESSING]
        pending = counts[JobStatus.PENDING]
        lost = stuck + pending
        rec.event(
            "store",
            f"{lost} of {len(stored)} jobs lost",
            f"at exit: {counts[JobStatus.COMPLETED]} of {len(stored)} accepted jobs completed, "
            f"{stuck} stuck processing, {pending} pending never run: {lost} lost",
            problem=lost > 0,
        )
        return ShutdownDemoReport(
            order=order,
            seed=seed,
            counts={status.value: counts[status] for status in JobStatus},
            accepted=len(stored),
            stuck=stuck,
            lost=lost,
            error=service.error,
            events=rec.frame(rec.events),
            trace=rec.frame(rec.trace),
            jobs=jobs_frame(stored),
        )

    return run_on_clock(run, backend="asyncio", clock="virtual")


# -- at the terminal --------------------------------------------------------------------------

#: Command-line options of ``python -m jobsim demo shutdown`` (argparse keywords).
OPTIONS: dict[str, dict[str, Any]] = {
    "--order": {
        "choices": list(SHUTDOWN_ORDERS),
        "help": "the order to stop in (default: close-channel-first, or correct with --fixed)",
    },
    "--workers": {"type": int, "default": 3, "help": "workers (default 3)"},
    "--seed": {"type": int, "default": 0, "help": "seed of the job durations (default 0)"},
}


def narrate(args: argparse.Namespace, out: TextIO) -> None:
    """Tell the shutdown at the terminal: every event in order, then what was lost."""
    if args.order is not None and args.fixed and args.order != "correct":
        raise ValueError(f"--fixed runs the correct order; it contradicts --order {args.order}")
    order: ShutdownOrder = args.order or ("correct" if args.fixed else "close-channel-first")
    report = shutdown(order, workers=args.workers, seed=args.seed)
    print(
        f"Shutdown order {order!r}: {SHUTDOWN_ORDERS[order]}.\n"
        f"A producer accepts a job every 0.25 s into a channel of 4 slots; {args.workers} "
        "worker(s) run jobs of 0.6-1.4 s; main stops the service at t=1.6 s. Times are "
        "virtual seconds; !! marks a problem.\n",
        file=out,
    )
    print_log(report.trace, out)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    print(f"\nAccepted {report.accepted} jobs; at exit: {counts}. Lost: {report.lost}.", file=out)
    if report.error:
        print(f"The service crashed: {report.error}.", file=out)
    if not report.ok:
        print("Run with --fixed to see the correct order.", file=out)
