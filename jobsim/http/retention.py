"""Retention: the service deletes finished jobs beyond a count and an age, so that memory
(or the database) stays bounded however many jobs pass through. Job queues do the same with
results (Celery's ``result_expires``, RQ's ``result_ttl``)."""

from __future__ import annotations

import logging
import time

import anyio

from jobsim.domain import TERMINAL_STATUSES
from jobsim.stores.base import JobStore

__all__ = ["PURGE_EVERY", "keep_finished"]

logger = logging.getLogger("jobsim.http")

#: Seconds between two purges.
PURGE_EVERY = 0.5


async def keep_finished(
    store: JobStore, keep: int | None, older_than: float | None, every: float = PURGE_EVERY
) -> None:
    """Run until cancelled: every ``every`` seconds delete the finished jobs beyond the
    ``keep`` most recent and those older than ``older_than`` seconds (wall clock, like the
    service's timestamps). A purge runs only when the count is over ``keep`` or, for the age,
    every hundredth of ``older_than`` (at least ``every``, at most a minute): a store full of
    pending jobs is not scanned twice a second for nothing. A failing purge is logged once
    and tried again next time."""
    age_every = min(60.0, max(every, (older_than or 0.0) / 100))
    next_age = time.monotonic() + age_every
    failing = False
    while True:
        await anyio.sleep(every)
        try:
            counts = await store.counts()
            over = keep is not None and sum(counts[s] for s in TERMINAL_STATUSES) > keep
            aged = older_than is not None and time.monotonic() >= next_age
            if not (over or aged):
                continue
            if aged:
                next_age = time.monotonic() + age_every
            purged = await store.purge_finished(keep=keep, older_than=older_than, at=time.time())
        except Exception:
            if not failing:
                logger.exception("retention: purging finished jobs failed; will keep trying")
            failing = True
            continue
        failing = False
        if purged:
            logger.debug("retention: deleted %d finished jobs", purged)
