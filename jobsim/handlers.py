"""The built-in handler of the job service and the worker command: sleep, then report.

I/O-bound stand-in work, like the Go service's jobs. Its one rule for ``payload["duration"]``
is shared by ``python -m jobsim serve`` and ``python -m jobsim worker``.
"""

from __future__ import annotations

import math

import anyio

from jobsim.domain import Job
from jobsim.pool.runner import Handler

__all__ = ["MAX_DURATION", "check_duration", "sleep_handler"]

#: Longest ``payload["duration"]`` the built-in handler accepts (seconds).
MAX_DURATION = 3600.0


def check_duration(value: object, limit: float = MAX_DURATION) -> float:
    """``value`` as seconds if it is a number from 0 to ``limit``, else a ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= limit and math.isfinite(value))
    ):
        raise ValueError(
            f"payload['duration'] must be a number of seconds >= 0 and <= {limit:g}, got {value!r}"
        )
    return value


def sleep_handler(default: float) -> Handler:
    """Sleep ``payload["duration"]`` seconds (``default`` when absent); return
    ``{"slept": seconds}``. A bad duration fails the job with a message saying why."""

    async def handle(job: Job) -> dict[str, float]:
        duration = job.payload.get("duration")
        seconds = check_duration(default if duration is None else duration)
        await anyio.sleep(seconds)
        return {"slept": seconds}

    return handle
