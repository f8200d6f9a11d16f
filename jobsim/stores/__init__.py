"""Claimable job stores: the protocol and its implementations.

``SQLiteJobStore`` and ``PostgresJobStore`` are imported on first use (``open_store`` or
attribute access), so ``import jobsim`` never imports psycopg.
"""

from typing import TYPE_CHECKING, Any

from jobsim.stores.base import JobStore, LeasingJobStore
from jobsim.stores.masking import mask_url
from jobsim.stores.memory import InMemoryJobStore
from jobsim.stores.racy import RacyStore
from jobsim.stores.url import StoreUnavailable, StoreURLError, open_store

if TYPE_CHECKING:
    from jobsim.stores.postgres import PostgresJobStore
    from jobsim.stores.sqlite import SQLiteJobStore

__all__ = [
    "InMemoryJobStore",
    "JobStore",
    "LeasingJobStore",
    "PostgresJobStore",
    "RacyStore",
    "SQLiteJobStore",
    "StoreURLError",
    "StoreUnavailable",
    "mask_url",
    "open_store",
]

_LAZY = {
    "SQLiteJobStore": "jobsim.stores.sqlite",
    "PostgresJobStore": "jobsim.stores.postgres",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jobsim.stores' has no attribute {name!r}")
