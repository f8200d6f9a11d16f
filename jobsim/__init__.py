"""jobsim: job queues with worker pools, for real and in a lab.

The public API lives here; submodules are the implementation rooms (see the
"Architecture" section of README.md for the rooms and the direction of their imports).
"""

import importlib
from typing import Any

from jobsim import theory
from jobsim.config import Config, ConfigError
from jobsim.domain import (
    ClaimLost,
    ClaimToken,
    DuplicateJob,
    InvalidTransition,
    Job,
    JobNotFound,
    JobsimError,
    JobStatus,
    PoolClosed,
)
from jobsim.events import TraceEvent
from jobsim.pool import (
    Autoscaler,
    Concurrency,
    Prefetch,
    Priority,
    RateLimit,
    Schedule,
    ShutdownReport,
    WorkerPool,
)
from jobsim.retry import RetryPolicy
from jobsim.stores import (
    InMemoryJobStore,
    JobStore,
    LeasingJobStore,
    RacyStore,
    StoreUnavailable,
    StoreURLError,
    open_store,
)
from jobsim.theory import QueueMetrics, erlang_c, mmc, priority_mmc, workers_for

# The lab. Imported eagerly so that ``jobsim.simulate`` is the function, not the submodule
# (none of these import pandas at module level).
from jobsim.clock import VirtualTimeError  # isort: skip
from jobsim.mix import Mix  # isort: skip
from jobsim.records import BackpressureWarning, RunResult  # isort: skip
from jobsim import analysis  # isort: skip
from jobsim.analysis import Interval, batch_means, t_interval  # isort: skip
from jobsim.simulate import simulate, simulate_async  # isort: skip
from jobsim.experiments import Replications, replicate, sweep  # isort: skip
from jobsim.views import compare  # isort: skip
from jobsim.workload import (  # isort: skip
    Batch,
    Bursts,
    Constant,
    Empirical,
    Exponential,
    LogNormal,
    Periodic,
    Piecewise,
    Poisson,
    SimulatedFailure,
    Sinusoid,
    Spike,
    Trace,
    Uniform,
    Workload,
)

__version__ = "0.1.0"

__all__ = [
    "Autoscaler",
    "BackpressureWarning",
    "Batch",
    "Bursts",
    "ClaimLost",
    "ClaimToken",
    "Concurrency",
    "Config",
    "ConfigError",
    "Constant",
    "DuplicateJob",
    "Empirical",
    "Exponential",
    "InMemoryJobStore",
    "Interval",
    "InvalidTransition",
    "Job",
    "JobNotFound",
    "JobStatus",
    "JobStore",
    "JobsimError",
    "LeasingJobStore",
    "LogNormal",
    "Mix",
    "Periodic",
    "Piecewise",
    "Poisson",
    "PoolClosed",
    "PostgresJobStore",
    "Prefetch",
    "Priority",
    "QueueMetrics",
    "RacyStore",
    "RateLimit",
    "Replications",
    "RetryPolicy",
    "RunResult",
    "SQLiteJobStore",
    "Schedule",
    "ShutdownReport",
    "SimulatedFailure",
    "Sinusoid",
    "Spike",
    "StoreURLError",
    "StoreUnavailable",
    "Trace",
    "TraceEvent",
    "Uniform",
    "VirtualTimeError",
    "WorkerPool",
    "Workload",
    "__version__",
    "analysis",
    "batch_means",
    "compare",
    "erlang_c",
    "explore",
    "mmc",
    "open_store",
    "priority_mmc",
    "replicate",
    "simulate",
    "simulate_async",
    "sweep",
    "t_interval",
    "theory",
    "workers_for",
]

# Rooms with heavy imports load on first attribute access (``jobsim.plot`` pulls in matplotlib),
# so ``import jobsim`` stays cheap. Add a line here for another lazy room.
_LAZY_MODULES = {"plot": "jobsim.plot", "demos": "jobsim.demos"}
# The SQL stores import sqlite3 / psycopg: resolved through jobsim.stores on first access.
_LAZY_NAMES = {
    "SQLiteJobStore": "jobsim.stores",
    "PostgresJobStore": "jobsim.stores",
    "explore": "jobsim.explorer",  # ipywidgets and matplotlib: notebooks only
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'jobsim' has no attribute {name!r}")
