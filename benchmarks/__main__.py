"""``python -m benchmarks [suite ...]``: run suites, print medians with 95% CIs, write CSV + PNGs.

Each suite (see :mod:`benchmarks.suites`) takes one :class:`~benchmarks._harness.Options` and
returns tidy rows; this CLI adds the environment columns, appends them to ``DIR/results.csv``,
draws the plots into ``DIR`` and prints one table per suite. A suite that fails is reported
and the others still run; the exit status is then non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks.suites import DEFAULT_SUITES, SUITES

log = logging.getLogger("jobsim.benchmarks")

#: Columns shown in the printed table, per suite; a suite module may set its own
#: ``TABLE_METRICS`` tuple, others fall back to a generic set.
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "scaling": ("makespan_s", "throughput_jobs_s", "speedup", "efficiency", "latency_p95_s"),
    "cpu": ("makespan_s", "throughput_jobs_s", "speedup", "efficiency"),
    "overhead": ("throughput_jobs_s", "ratio", "ratio_vs_asyncio_bare"),
}
GENERIC_METRICS = (
    "makespan_s",
    "throughput_jobs_s",
    "speedup",
    "efficiency",
    "ratio",
    "wait_p50_s",
    "latency_p95_s",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def _worker_list(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list like 1,2,4; got {text!r}"
        )
    values = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected whole numbers like 1,2,4; {part!r} is not one"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"worker counts must be >= 1, got {value}")
        values.append(value)
    return sorted(set(values))


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (every flag documented in ``--help``)."""
    names = ", ".join(SUITES)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "jobsim benchmarks: run suites, print medians with 95% bootstrap confidence "
            "intervals over repeats, append tidy rows to DIR/results.csv and write PNG plots."
        ),
        epilog=(
            f"Suites: {names}. Default: {' '.join(DEFAULT_SUITES)}. "
            "Options a suite does not use are ignored by it."
        ),
    )
    parser.add_argument(
        "suites",
        nargs="*",
        metavar="suite",
        help=f"suites to run, in order (choose from: {names}; or 'all'); default: scaling",
    )
    parser.add_argument(
        "--workers",
        type=_worker_list,
        metavar="N,N,...",
        help="worker counts to sweep, comma-separated (scaling default: 1,2,5,10,20,50; "
        "overhead: the first value; 1 is always added as the speedup baseline)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="jobs per run (scaling default 100; overhead default 200000, 20000 with --quick)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="S",
        help="seconds per job: the sleep of a real-clock I/O job (scaling default 0.05, "
        "0.01 with --quick) or the CPU time of a cpu job (default 0.05, 0.01 with --quick)",
    )
    parser.add_argument(
        "--clock",
        choices=["real", "virtual"],
        help="scaling: only the real-clock sweep or only the Go service's table in virtual time "
        "(default: both); passed to other suites as their clock",
    )
    parser.add_argument(
        "--backend",
        choices=["asyncio", "trio"],
        help="event loop to run on (default: asyncio; overhead runs both unless given)",
    )
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        help="overhead: 'uvloop' adds the asyncio runs on uvloop next to asyncio's own loop, "
        "in the same run (needs the uvloop extra)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=3,
        metavar="K",
        help="recorded runs per configuration, after one discarded warm-up run (default 3)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller, shorter runs: the default suite finishes in well under 30 s",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="directory for results.csv (appended) and the PNG plots (default: results/)",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="skip the PNG plots (the CSV is still written)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    return parser


def _suite_names(parser: argparse.ArgumentParser, requested: Sequence[str]) -> list[str]:
    names: list[str] = []
    for name in requested or DEFAULT_SUITES:
        if name == "all":
            names += [n for n in SUITES if n not in names]
        elif name not in SUITES:
            parser.error(
                f"argument suite: unknown suite {name!r} (choose from: {', '.join(SUITES)}, all)"
            )
        elif name not in names:
            names.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    names = _suite_names(parser, args.suites)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import pandas as pd

    from benchmarks import _harness

    options = _harness.Options(
        quick=args.quick,
        repeat=args.repeat,
        workers=tuple(args.workers) if args.workers else None,
        jobs=args.jobs,
        backend=args.backend,
        clock=args.clock,
        duration=args.duration,
        loop=args.loop,
        progress=not args.no_progress,
    )

    env = _harness.environment()
    status = 0
    frames: list[pd.DataFrame] = []
    plots: list[Path] = []
    pd.set_option("display.width", 200)
    for name in names:
        started = time.perf_counter()
        try:
            module = importlib.import_module(SUITES[name])
            frame = module.run(options)
        except Exception as exc:  # report it, keep the other suites' rows
            traceback.print_exc(file=sys.stderr)
            print(f"\n== {name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        elapsed = time.perf_counter() - started
        if "suite" not in frame.columns:
            frame.insert(0, "suite", name)
        frame = _harness.with_environment(frame, env)
        frames.append(frame)
        summary = _harness.summarize(frame)
        metrics = getattr(module, "TABLE_METRICS", None) or TABLE_METRICS.get(name, GENERIC_METRICS)
        print(f"\n== {name} ({len(frame)} runs in {elapsed:.1f} s; median [95% CI])")
        print(_harness.format_summary(summary, metrics))
        notes = getattr(module, "notes", None)
        if callable(notes):
            for line in notes(frame):
                print(f"   {line}")
        if not args.no_plots:
            try:
                plot = getattr(module, "plot", None)
                if callable(plot):
                    plots += plot(frame, args.out)
                elif "workers" in frame.columns and frame["workers"].nunique() > 1:
                    plots += _harness.plot_scaling(frame, args.out, prefix=name)
            except Exception as exc:  # a broken plot must not cost the measurements
                log.exception("plots for suite %s failed", name)
                print(f"   plots for {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                status = 1
    if frames:
        csv = _harness.append_csv(
            pd.concat(frames, ignore_index=True, sort=False), args.out / "results.csv"
        )
        print(f"\nrows appended to {csv}")
        if plots:
            print("plots: " + ", ".join(str(p) for p in plots))
    return status


if __name__ == "__main__":
    sys.exit(main())
