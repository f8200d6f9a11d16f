"""``python -m jobsim simulate``: run a workload for some worker counts, print summaries."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from jobsim import clock as clocks
from jobsim.simulate import simulate
from jobsim.workload import Workload

__all__ = ["main"]


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 1,2,10; got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"worker counts must be integers >= 1; got {text!r}")
    return values


def _spec(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobsim simulate``: run a workload for some worker counts, print summaries."""
    from jobsim.workload import parse_arrivals, parse_service

    parser = argparse.ArgumentParser(
        prog="python -m jobsim simulate",
        description="Run a workload on the real worker pool, in virtual or real time.",
    )
    parser.add_argument("--jobs", type=int, default=100, help="number of jobs (default 100)")
    parser.add_argument(
        "--arrivals",
        type=_spec(parse_arrivals),
        default="batch",
        help="batch | poisson:RATE | periodic:SECONDS | bursts:SIZE:EVERY (default batch)",
    )
    parser.add_argument(
        "--service",
        type=_spec(parse_service),
        default="constant:1.0",
        help="constant:S | uniform:LOW:HIGH | exponential:MEAN | lognormal:MEAN[:SIGMA] "
        "(default constant:1.0)",
    )
    parser.add_argument("--kind", choices=["sleep", "cpu-thread", "cpu-process"], default="sleep")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="per attempt, 0..1")
    parser.add_argument("--max-attempts", type=int, default=1, help="attempts per job")
    parser.add_argument(
        "--workers",
        type=_int_list,
        default=[1, 10],
        help="comma-separated worker counts (default 1,10)",
    )
    parser.add_argument("--capacity", type=int, default=100, help="channel slots (default 100)")
    parser.add_argument("--clock", choices=list(clocks.CLOCKS), default="virtual")
    parser.add_argument("--backend", choices=list(clocks.BACKENDS), default="asyncio")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        workload = Workload(
            args.jobs,
            args.arrivals,
            args.service,
            kind=args.kind,
            failure_rate=args.failure_rate,
            max_attempts=args.max_attempts,
            seed=args.seed,
        )
    except ValueError as exc:
        flag = {"jobs": "--jobs", "failure_rate": "--failure-rate"}
        named = next((f for key, f in flag.items() if f"Workload.{key}" in str(exc)), None)
        named = named or ("--max-attempts" if "max_attempts" in str(exc) else "--kind")
        parser.error(f"argument {named}: {exc}")
    if args.capacity < 1:
        parser.error(f"argument --capacity: must be an integer >= 1, got {args.capacity}")
    if args.clock == "virtual" and workload.is_cpu_bound:
        parser.error(
            f"argument --clock: --kind {args.kind} does real CPU work, which the virtual "
            "clock cannot skip; use --clock real"
        )
    columns = ["workers", "makespan", "throughput", "wait_p95", "latency_p95", "utilisation"]
    print(
        f"{args.jobs} jobs, arrivals {args.arrivals}, service {args.service}, kind {args.kind}, "
        f"{args.clock} clock on {args.backend}"
    )
    print("".join(f"{c:>14}" for c in columns))
    for count in args.workers:
        result = simulate(
            workload,
            workers=count,
            capacity=args.capacity,
            clock=args.clock,
            backend=args.backend,
        )
        s = result.summary
        print("".join(f"{s[c]:>14.6g}" for c in columns))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
