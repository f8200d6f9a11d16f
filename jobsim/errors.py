"""The errors jobsim raises that need nothing but a job id: a leaf module below
:mod:`jobsim.domain`, which re-exports them with the errors about statuses and claims."""

from __future__ import annotations

__all__ = ["DuplicateJob", "JobNotFound", "JobsimError", "PoolClosed"]


class JobsimError(Exception):
    """Base class of every error jobsim raises on purpose."""


class JobNotFound(JobsimError, LookupError):
    """No job with this id exists in the store."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r} in this store")


class DuplicateJob(JobsimError, ValueError):
    """A job was added twice under the same id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"a job with id {job_id!r} is already in this store; ids must be unique")


class PoolClosed(JobsimError, RuntimeError):
    """``submit``/``deliver`` was called on a pool that is shutting down or has shut down."""
