"""Command line: ``python -m jobsim serve | worker | simulate | demo``.

Each subcommand lives in its own room and exposes ``main(argv) -> int``; this module only
dispatches, importing the room on demand so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "serve": ("jobsim.http.cli", "run the HTTP job service (FastAPI + uvicorn) with a pool"),
    "worker": ("jobsim.worker", "run a worker pool that pulls jobs from a shared store"),
    "simulate": ("jobsim.lab_cli", "run a workload on a pool in virtual or real time"),
    "demo": ("jobsim.demos", "narrate a teaching demo (races, shutdown orders, closures)"),
}


def _usage() -> str:
    lines = ["usage: python -m jobsim COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'python -m jobsim COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(
            f"jobsim: unknown command {command!r}; choose from: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(main())
