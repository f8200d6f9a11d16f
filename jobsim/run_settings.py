"""How a lab run was made: :class:`RunSettings`, typed and readable by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["RunSettings"]


@dataclass
class RunSettings(Mapping[str, Any]):
    """How a run was made. Typed attributes, also readable by name (``settings["clock"]``).

    Attributes:
        clock: ``"virtual"`` or ``"real"``.
        backend: ``"asyncio"`` or ``"trio"`` (the one the run actually used).
        workers: the pool's worker count.
        capacity: slots in the pool's channel.
        seed: the seed the workload was drawn with.
        kind: the workload's job kind (``"sleep"``, ``"cpu-thread"``, ``"cpu-process"``).
        engine: what computed the run: ``"pool"`` (the real pool) or ``"recursion"``.
        loop: the asyncio event loop of a real-clock run, ``"asyncio"`` or ``"uvloop"``.
        wall_time: seconds of real time the run took (NaN until it ran).
        blocked_submits: submits that found the channel full, so the producer waited and
            later arrivals were delayed (backpressure; see ``capacity`` in
            :func:`~jobsim.simulate`).
        warmup_time, warmup_jobs: where :meth:`RunResult.steady` cut the run (0 if it is whole).
    """

    clock: str
    backend: str
    workers: int
    capacity: int
    seed: int
    kind: str
    engine: str = "pool"
    loop: str = "asyncio"
    wall_time: float = float("nan")
    blocked_submits: int = 0
    warmup_time: float = 0.0
    warmup_jobs: int = 0

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
