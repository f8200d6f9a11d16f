"""jobsim: job queues with worker pools, for real and in a lab.

The public API lives here; submodules are the implementation rooms (see DESIGN.md).
"""

import importlib
from types import ModuleType

from jobsim import theory
from jobsim.config import Config, ConfigError
from jobsim.domain import (
    DuplicateJob,
    InvalidTransition,
    Job,
    JobNotFound,
    JobsimError,
    JobStatus,
    PoolClosed,
)
from jobsim.pool import ShutdownReport, WorkerPool
from jobsim.retry import RetryPolicy
from jobsim.stores import InMemoryJobStore, JobStore, LeasingJobStore, RacyStore
from jobsim.theory import QueueMetrics, erlang_c, mmc, workers_for

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "DuplicateJob",
    "InMemoryJobStore",
    "InvalidTransition",
    "Job",
    "JobNotFound",
    "JobStatus",
    "JobStore",
    "JobsimError",
    "LeasingJobStore",
    "PoolClosed",
    "QueueMetrics",
    "RacyStore",
    "RetryPolicy",
    "ShutdownReport",
    "WorkerPool",
    "__version__",
    "erlang_c",
    "mmc",
    "theory",
    "workers_for",
]

# Rooms with heavy imports load on first attribute access (``jobsim.plot`` pulls in matplotlib),
# so ``import jobsim`` stays cheap. Add a line here for another lazy room.
_LAZY_MODULES = {"plot": "jobsim.plot"}


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'jobsim' has no attribute {name!r}")
