"""Retention: the service deletes finished jobs beyond a count and an age, so that memory
(or the database) stays bounded however many jobs pass through. Job queues do the same with
results (Celery's ``result_expires``, RQ's ``result_ttl``)."""

from __future__ import annotations

import logging
import time

import anyio

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
    service's timestamps). A failing purge is logged once and tried again next time."""
    failing = False
    while True:
        await anyio.sleep(every)
        try:
            purged = await store.purge_finished(keep=keep, older_than=older_than, at=time.time())
        except Exception:
            if not failing:
                logger.exception("retention: purging finished jobs failed; will keep trying")
            failing = True
            continue
        failing = False
        if purged:
            logger.debug("retention: deleted %d finished jobs", purged)
