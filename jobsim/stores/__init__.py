"""Claimable job stores: the protocol and its implementations."""

from jobsim.stores.base import JobStore, LeasingJobStore
from jobsim.stores.memory import InMemoryJobStore
from jobsim.stores.racy import RacyStore

__all__ = ["InMemoryJobStore", "JobStore", "LeasingJobStore", "RacyStore"]
