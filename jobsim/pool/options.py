"""The pool's constructor options, checked: every bad value refused before the pool starts,
with an error naming the option and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobsim import checks
from jobsim.pool.limits import Limit
from jobsim.pool.policies import DispatchSpec, Policy, validate
from jobsim.pool.prefetch import Prefetch
from jobsim.pool.scalers import Scaler
from jobsim.stores.base import JobStore, LeasingJobStore

__all__ = ["check_options"]


def check_options(
    store: JobStore,
    handler: object,
    *,
    workers: int,
    capacity: int,
    job_timeout: float | None,
    lease: float | None,
    poll_interval: float,
    dispatch: DispatchSpec,
    limits: Mapping[str, Any] | None,
    scaler: object,
) -> tuple[Policy, dict[str, tuple[Limit, ...]]]:
    """Check :class:`~jobsim.pool.core.WorkerPool`'s options; return the dispatch policy and
    the checked limits."""
    policy, checked = validate(dispatch, limits)
    if lease is not None and (isinstance(policy, Prefetch) or checked):
        raise ValueError(
            "Prefetch(k) and limits= work in push mode only; in pull mode (lease=) each "
            "worker claims from the store itself (which takes the highest priority first)"
        )
    checks.count("workers", workers)
    checks.count("capacity", capacity)
    if not callable(handler):
        raise TypeError(f"handler must be an async callable taking a Job, got {handler!r}")
    checks.seconds("job_timeout", job_timeout)
    checks.seconds("lease", lease)
    checks.seconds("poll_interval", poll_interval)
    if scaler is not None and not isinstance(scaler, Scaler):
        raise TypeError(
            f"scaler must have 'async def run(pool)' (e.g. Schedule or Autoscaler), got {scaler!r}"
        )
    if lease is not None and not isinstance(store, LeasingJobStore):
        raise TypeError(
            f"lease= (pull mode) needs a store shared between processes with claim_next, "
            f"renew, requeue_expired and wait_for_jobs; {type(store).__name__} has not"
        )
    return policy, checked
