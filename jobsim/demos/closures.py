"""Closure capture: tasks started in a loop all report the loop variable's last value.

A function defined in a loop body looks the loop variable up when it *runs*, not when it is
defined; the tasks run after the loop has finished, so every worker reports the same id.
:func:`closure_capture` shows the bug and three fixes (ruff's rule B023 flags the bug).
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import anyio
import anyio.lowlevel

from jobsim.clock import run as run_on_clock
from jobsim.demos.recording import check_count

__all__ = ["OPTIONS", "ClosureCaptureReport", "closure_capture", "narrate"]

_CLOSURE_FIXES = ("argument", "default", "partial")


@dataclass(frozen=True)
class ClosureCaptureReport:
    """What :func:`closure_capture` saw.

    Attributes:
        fixed: whether the fixed twin ran.
        how: the fix used (``"argument"``, ``"default"``, ``"partial"``), or ``"closure"``.
        reported: ``{task name: the worker id the task reported}``, in start order; the task
            named ``worker-3`` should report 3.
    """

    fixed: bool
    how: str
    reported: dict[str, int]

    @property
    def ids(self) -> list[int]:
        """The ids the workers reported, in start order."""
        return list(self.reported.values())

    @property
    def distinct(self) -> int:
        """How many different ids were reported (the number of workers when correct)."""
        return len(set(self.reported.values()))

    @property
    def wrong(self) -> int:
        """Workers that reported an id other than their own."""
        return sum(1 for name, id_ in self.reported.items() if name != f"worker-{id_}")


def closure_capture(
    fixed: bool = False,
    *,
    workers: int = 5,
    how: Literal["argument", "default", "partial"] = "argument",
) -> ClosureCaptureReport:
    """Start ``workers`` tasks in a loop, each meant to report its own worker id.

    The bug ("closure variable capture", which the original Go service warned about): a
    function defined in a loop body looks the loop variable up when it *runs*, not when it
    is defined. The tasks start running
    after the loop has finished, so they all see its last value. The fixes bind the value
    when the task is created: pass it as an argument (``how="argument"``, the clearest), as
    a default argument (``"default"``) or with :func:`functools.partial` (``"partial"``).
    ruff's rule B023 flags the bug.
    """
    check_count("workers", workers)
    if how not in _CLOSURE_FIXES:
        raise ValueError(f"how must be one of {', '.join(_CLOSURE_FIXES)}, got {how!r}")

    async def run() -> ClosureCaptureReport:
        reported: dict[str, int] = {}

        def report(worker_id: int) -> None:
            reported[str(anyio.get_current_task().name)] = worker_id

        async with anyio.create_task_group() as tg:
            for worker_id in range(1, workers + 1):
                name = f"worker-{worker_id}"
                if not fixed:

                    async def work() -> None:
                        await anyio.lowlevel.checkpoint()  # some set-up, then log our id
                        report(worker_id)  # noqa: B023 -- the bug on show: read at run time

                    tg.start_soon(work, name=name)
                elif how == "argument":

                    async def work_on(worker_id: int) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)  # our own parameter: bound when the task started

                    tg.start_soon(work_on, worker_id, name=name)
                elif how == "default":

                    async def work_default(worker_id: int = worker_id) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)  # the default was evaluated at definition time

                    tg.start_soon(work_default, name=name)
                else:

                    async def work_partial(worker_id: int) -> None:
                        await anyio.lowlevel.checkpoint()
                        report(worker_id)

                    tg.start_soon(functools.partial(work_partial, worker_id), name=name)
        order = [f"worker-{i}" for i in range(1, workers + 1)]
        return ClosureCaptureReport(
            fixed=fixed,
            how=how if fixed else "closure",
            reported={name: reported[name] for name in order},
        )

    return run_on_clock(run, backend="asyncio", clock="virtual")


# -- at the terminal --------------------------------------------------------------------------

#: Command-line options of ``python -m jobsim demo closure-capture`` (argparse keywords).
OPTIONS: dict[str, dict[str, Any]] = {
    "--workers": {"type": int, "default": 5, "help": "worker tasks to start (default 5)"},
}


def _code(fixed: bool, workers: int) -> str:
    if fixed:
        return f"""\
    for worker_id in range(1, {workers + 1}):
        async def work(worker_id):
            await anyio.lowlevel.checkpoint()
            report(worker_id)            # the task's own argument
        tg.start_soon(work, worker_id)   # bound here, when the task is created"""
    return f"""\
    for worker_id in range(1, {workers + 1}):
        async def work():
            await anyio.lowlevel.checkpoint()
            report(worker_id)            # looked up now, when the task runs
        tg.start_soon(work)"""


def narrate(args: argparse.Namespace, out: TextIO) -> None:
    """Show the loop, then the id each task reported."""
    report = closure_capture(args.fixed, workers=args.workers)
    print(
        f"Closure capture: a loop starts {args.workers} worker tasks; each should report its "
        "own id.\n"
        + (
            "Fixed: the id is passed to each task as an argument.\n"
            if args.fixed
            else "Bug: each task's function reads the loop variable when it runs (Go before "
            "1.22 had the same bug with 'go func() { ... i ... }()').\n"
        )
        + "\n"
        + _code(args.fixed, args.workers)
        + "\n",
        file=out,
    )
    for name, id_ in report.reported.items():
        mark = "  " if name == f"worker-{id_}" else "!!"
        print(f"{mark} task {name} reports worker id {id_}", file=out)
    print(
        f"\n{report.distinct} distinct id(s) for {len(report.reported)} workers; "
        f"{report.wrong} wrong.",
        file=out,
    )
    if report.wrong:
        print(
            "The tasks ran after the loop had finished and all read its last value. "
            "Run with --fixed.",
            file=out,
        )
