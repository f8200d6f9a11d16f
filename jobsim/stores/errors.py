"""The stores' own errors, in a leaf module every store can import (re-exported by
:mod:`jobsim.stores` and :mod:`jobsim.stores.url`)."""

from __future__ import annotations

from jobsim.domain import JobsimError

__all__ = ["StoreURLError", "StoreUnavailable"]


class StoreURLError(JobsimError, ValueError):
    """A store URL jobsim cannot interpret."""


class StoreUnavailable(JobsimError, ConnectionError):
    """The store's database could not be opened or reached."""
