"""Teaching demos: broken and fixed twins of the classic concurrency bugs the original Go
service warned about.

Each demo is seeded and deterministic (virtual time on asyncio, see :mod:`jobsim.clock`), runs
in well under a second, and returns a report whose frames a notebook can plot:

* :func:`duplicate_race` (:mod:`~jobsim.demos.race`) -- every job delivered twice to a real
  :class:`~jobsim.WorkerPool`; :class:`~jobsim.RacyStore` runs some jobs twice, the atomic
  claim of :class:`~jobsim.InMemoryJobStore` runs each exactly once.
* :func:`shutdown` (:mod:`~jobsim.demos.shutdown_orders`) -- the original Go service in
  miniature (:mod:`~jobsim.demos.service`) stopped in the right order or in three wrong ones.
* :func:`closure_capture` (:mod:`~jobsim.demos.closures`) -- closures created in a loop read
  the loop variable when they *run*, so every worker reports the same id; three fixes.

:mod:`~jobsim.demos.recording` holds what they share (the ordered event log and its frames);
``python -m jobsim demo NAME [--fixed]`` narrates a demo (:mod:`~jobsim.demos.cli`).
pandas is imported inside the functions so that importing this package stays light.

**Adding a demo** is one module and one registration:

1. ``jobsim/demos/<topic>.py``: the function that runs it (on the virtual clock:
   ``jobsim.clock.run(fn, backend="asyncio", clock="virtual")``, which is safe inside
   Jupyter), a frozen report dataclass, ``OPTIONS`` (its command-line flags as argparse
   keywords) and ``narrate(args, out)`` (prints the story; raise ``ValueError`` for bad
   input). Use :class:`~jobsim.demos.recording.Recorder` for its log.
2. Register it: one ``Demo(name, summary, module.narrate, module.OPTIONS)`` line in
   :data:`jobsim.demos.cli.DEMOS`, and re-export its function and report below.
"""

from jobsim.demos.cli import DEMOS, Demo, main
from jobsim.demos.closures import ClosureCaptureReport, closure_capture
from jobsim.demos.race import DuplicateRaceReport, duplicate_race
from jobsim.demos.shutdown_orders import (
    SHUTDOWN_ORDERS,
    ShutdownDemoReport,
    ShutdownOrder,
    shutdown,
)

__all__ = [
    "DEMOS",
    "SHUTDOWN_ORDERS",
    "ClosureCaptureReport",
    "Demo",
    "DuplicateRaceReport",
    "ShutdownDemoReport",
    "ShutdownOrder",
    "closure_capture",
    "duplicate_race",
    "main",
    "shutdown",
]
