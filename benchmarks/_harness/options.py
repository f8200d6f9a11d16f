"""One options object for every suite: what ``python -m benchmarks`` passes to each suite's
``run(...)``, checked once, in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Options"]

BACKENDS = ("asyncio", "trio")
CLOCKS = ("real", "virtual")


@dataclass(frozen=True)
class Options:
    """How to run a suite. A suite reads the fields it uses and ignores the others.

    Attributes:
        quick: smaller, shorter runs (each suite says how).
        repeat: recorded runs per configuration, after one discarded warm-up run.
        workers: worker counts to sweep (None: the suite's default).
        jobs: jobs per run (None: the suite's default).
        backend: ``"asyncio"``, ``"trio"`` or None (the suite's default).
        clock: ``"real"``, ``"virtual"`` or None (the suite's default: both where it can).
        duration: seconds per job (None: the suite's default).
        progress: show tqdm progress bars.
        loop: ``"uvloop"``: suites that measure asyncio in real time add runs on uvloop next
            to asyncio's own loop (``"asyncio"`` or None: its own loop only).
    """

    quick: bool = False
    repeat: int = 3
    workers: tuple[int, ...] | None = None
    jobs: int | None = None
    backend: str | None = None
    clock: str | None = None
    duration: float | None = None
    progress: bool = True
    loop: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise ValueError(f"repeat must be an integer >= 1, got {self.repeat!r}")
        if self.workers is not None:
            counts = tuple(self.workers)
            if not counts or any(
                not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in counts
            ):
                raise ValueError(
                    f"workers must list integers >= 1, e.g. (1, 2, 4); got {self.workers!r}"
                )
            object.__setattr__(self, "workers", counts)
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise ValueError(f"jobs must be an integer >= 1, got {self.jobs!r}")
        if self.backend not in (None, *BACKENDS):
            raise ValueError(f"backend must be 'asyncio', 'trio' or None, got {self.backend!r}")
        if self.loop not in (None, "asyncio", "uvloop"):
            raise ValueError(f"loop must be 'asyncio', 'uvloop' or None, got {self.loop!r}")
        if self.clock not in (None, *CLOCKS):
            raise ValueError(f"clock must be 'real', 'virtual' or None, got {self.clock!r}")
        if self.duration is not None and not 0 < self.duration < float("inf"):
            raise ValueError(
                f"duration must be a finite number of seconds > 0, got {self.duration!r}"
            )

    @classmethod
    def of(cls, options: Options | None = None, **changes: Any) -> Options:
        """``options`` (default: all defaults) with ``changes`` applied; an unknown name is a
        ``TypeError`` listing the known ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise TypeError(f"unknown benchmark option(s) {unknown}; the options are {known}")
        return dataclasses.replace(options or cls(), **changes)

    def worker_counts(self, default: Sequence[int], *, baseline: bool = False) -> list[int]:
        """The worker counts to run, sorted; with ``baseline`` 1 is added (speedup's base)."""
        counts = set(self.workers or default)
        return sorted(counts | {1}) if baseline else sorted(counts)

    def require_clock(self, clock: str, *, suite: str, why: str) -> None:
        """A suite that runs on one clock only: refuse the other with a message saying why."""
        if self.clock not in (None, clock):
            raise ValueError(
                f"the {suite} suite {why}: clock must be {clock!r} or None, got {self.clock!r}"
            )
