"""``python -m jobsim demo NAME [--fixed] [options]``: narrate a demo at the terminal.

Every demo is one :class:`Demo` in :data:`DEMOS`: its name, a one-line summary, its own
options (argparse keywords by flag) and a ``narrate(args, out)`` that prints the story.
``--fixed`` is common to all. A flag that belongs to another demo is refused by name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from jobsim.demos import closures, race, shutdown_orders

__all__ = ["DEMOS", "Demo", "main"]


@dataclass(frozen=True)
class Demo:
    """One demo at the terminal: ``python -m jobsim demo <name> [--fixed] [options]``."""

    name: str
    summary: str
    narrate: Callable[[argparse.Namespace, TextIO], None]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


#: The demos ``python -m jobsim demo`` knows, in the order ``--help`` lists them.
DEMOS: tuple[Demo, ...] = (
    Demo("duplicate-race", "RacyStore runs jobs twice; --fixed: atomic claim", race.narrate,
         race.OPTIONS),
    Demo("shutdown", "stop a service in a wrong order; --fixed: the right one",
         shutdown_orders.narrate, shutdown_orders.OPTIONS),
    Demo("closure-capture", "every worker reports the same id; --fixed: bind it",
         closures.narrate, closures.OPTIONS),
)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobsim demo",
        description="Narrate a teaching demo: the bug, or with --fixed its fix. Times are "
        "virtual seconds, so every run prints the same story.",
    )
    names = parser.add_subparsers(dest="name", metavar="NAME", required=True)
    for demo in DEMOS:
        sub = names.add_parser(demo.name, help=demo.summary, description=demo.summary)
        sub.add_argument("--fixed", action="store_true", help="run the fixed twin")
        for flag, keywords in demo.options.items():
            sub.add_argument(flag, **keywords)
    return parser


def _refuse_foreign_flags(parser: argparse.ArgumentParser, name: str, extra: list[str]) -> None:
    """Exit (status 2) naming the first flag this demo does not take, and who takes it."""
    for token in extra:
        flag = token.split("=", 1)[0]
        owners = [d.name for d in DEMOS if flag in d.options]
        if owners:
            parser.error(f"{flag} applies to the {' and '.join(owners)} demo only, not to {name}")
    parser.error(f"unrecognized arguments: {' '.join(extra)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Narrate a demo; returns the exit code (2 for bad input, with a message on stderr)."""
    parser = _parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extra:
        _refuse_foreign_flags(parser, args.name, extra)
    demo = next(d for d in DEMOS if d.name == args.name)
    try:
        demo.narrate(args, sys.stdout)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
    except ValueError as exc:
        print(f"jobsim demo: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (``| head``): stop quietly. As CPython's docs on SIGPIPE advise,
        # point stdout at devnull so the flush at exit cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0
