"""jobsim: job queues with worker pools, for real and in a lab.

The public API lives here; submodules are the implementation rooms (see DESIGN.md).
"""

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
    "ShutdownReport",
    "WorkerPool",
    "__version__",
    "erlang_c",
    "mmc",
    "theory",
    "workers_for",
]
