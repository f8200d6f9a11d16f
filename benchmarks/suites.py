"""Registry of benchmark suites: name -> importable module path.

Each module exposes ``run(*, quick=False, repeat=3, workers=None, jobs=None,
backend="asyncio", clock=None, **options) -> pandas.DataFrame`` returning tidy
rows. The harness (``python -m benchmarks``) imports suites lazily, so a suite
listed here whose module has not landed yet is reported, not fatal.
Helpers add one line for their suite.
"""

from __future__ import annotations

SUITES: dict[str, str] = {
    "scaling": "benchmarks.scaling",
    "cpu": "benchmarks.cpu",
    "overhead": "benchmarks.overhead",
    "simulation": "benchmarks.simulation",
    "stores": "benchmarks.stores",
    "http": "benchmarks.http",
}

#: Suite run when none is named on the command line.
DEFAULT_SUITES: tuple[str, ...] = ("scaling",)
