"""Registry of benchmark suites: name -> importable module path.

Each module exposes ``run(options: Options | None = None, /, **changes) ->
pandas.DataFrame`` returning tidy rows (:class:`benchmarks._harness.Options`; its fields
also work as keywords: ``scaling.run(quick=True)``), and may add ``notes(frame)``,
``plot(frame, out_dir)`` and ``TABLE_METRICS``. The CLI (``python -m benchmarks``) imports
a suite when it runs it. A new suite adds one line here.
"""

from __future__ import annotations

SUITES: dict[str, str] = {
    "scaling": "benchmarks.scaling",
    "cpu": "benchmarks.cpu",
    "overhead": "benchmarks.overhead",
    "simulation": "benchmarks.simulation",
    "stores": "benchmarks.stores",
    "http": "benchmarks.http",
    "experiments": "benchmarks.experiments",
}

#: Suite run when none is named on the command line.
DEFAULT_SUITES: tuple[str, ...] = ("scaling",)
