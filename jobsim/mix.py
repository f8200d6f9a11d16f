"""Mix: several job classes in one run, each with its own arrivals, service, priority, ttl.

::

    Mix(
        urgent=Workload(2_000, Poisson(2.0), Exponential(1.0), priority=10, ttl=5.0),
        bulk=Workload(6_000, Poisson(6.0), Exponential(1.0)),
        seed=1,
    )

The classes arrive independently; :meth:`Mix.plan` draws each class's numbers from its own
seeded stream (spawned from the mix's ``seed``, so adding a class never changes another's
draws) and merges them by arrival time. ``simulate`` runs a mix like a workload; the records
name each job's class (``RunResult.jobs["job_class"]``, ``RunResult.by_class()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from jobsim.workload import Plan, Workload

__all__ = ["Mix"]


@dataclass(frozen=True, init=False)
class Mix:
    """Several :class:`~jobsim.Workload` s as named job classes of one run.

    Args:
        seed: seeds every class's draws (the classes' own ``seed`` is not used).
        classes: ``name=Workload(...)``, at least one. Each class's jobs get its
            ``priority``, ``ttl``, ``max_attempts`` and ``job_type`` (default: the class
            name). All classes share one ``kind`` (the pool runs one handler).
    """

    classes: Mapping[str, Workload]
    seed: int

    def __init__(self, seed: int = 0, **classes: Workload) -> None:
        if not classes:
            raise ValueError("Mix needs at least one class, e.g. Mix(urgent=Workload(...))")
        for name, workload in classes.items():
            if not isinstance(workload, Workload):
                raise TypeError(
                    f"Mix class {name!r} must be a Workload, got {type(workload).__name__}"
                )
        kinds = {w.kind for w in classes.values()}
        if len(kinds) > 1:
            raise ValueError(
                f"the classes of a Mix must share one kind, got {sorted(kinds)}; "
                "run CPU-bound and sleeping work in separate simulations"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Mix.seed must be an integer >= 0, got {seed!r}")
        object.__setattr__(self, "classes", dict(classes))
        object.__setattr__(self, "seed", seed)

    @property
    def jobs(self) -> int:
        return sum(w.jobs for w in self.classes.values())

    @property
    def kind(self) -> str:
        return next(iter(self.classes.values())).kind

    @property
    def is_cpu_bound(self) -> bool:
        return self.kind != "sleep"

    @property
    def max_attempts(self) -> int:
        return max(w.max_attempts for w in self.classes.values())

    @property
    def failure_rate(self) -> float:
        return max(w.failure_rate for w in self.classes.values())

    def plan(self, seed: int | None = None) -> Plan:
        """Every class's draws, merged by arrival time (ties: class order, then index)."""
        streams = np.random.SeedSequence(self.seed if seed is None else seed).spawn(
            len(self.classes)
        )
        plans = [
            workload.plan(int(stream.generate_state(1)[0]), name=name)
            for (name, workload), stream in zip(self.classes.items(), streams, strict=True)
        ]
        order = sorted(
            ((at, c, i) for c, plan in enumerate(plans) for i, at in enumerate(plan.arrivals)),
        )
        return Plan(
            arrivals=[at for at, _, _ in order],
            service=[plans[c].service[i] for _, c, i in order],
            failures=[plans[c].failures[i] for _, c, i in order],
            classes=tuple(plan.classes[0] for plan in plans),
            job_class=[c for _, c, _ in order],
        )
