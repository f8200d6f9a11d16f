"""Job(priority=..., ttl=...) and the expired status: validation with clear errors."""

from __future__ import annotations

import math
import re

import pytest

from jobsim import Job, JobStatus
from jobsim.domain import TERMINAL_STATUSES, TRANSITIONS, InvalidTransition


def test_defaults_and_round_trip() -> None:
    job = Job(priority=3, ttl=2)
    assert (job.priority, job.ttl) == (3, 2.0) and isinstance(job.ttl, float)
    assert Job.from_dict(job.to_dict()).to_dict() == job.to_dict()
    assert (Job().priority, Job().ttl) == (0, None)


@pytest.mark.parametrize("bad", [True, 1.5, 2.0, math.nan, "3", None])
def test_priority_must_be_an_integer(bad: object) -> None:
    with pytest.raises(
        TypeError, match=r"Job.priority must be an integer .*got " + re.escape(repr(bad))
    ):
        Job(priority=bad)  # type: ignore[arg-type]


def test_priority_must_fit_a_32_bit_column() -> None:
    Job(priority=2**31 - 1)
    with pytest.raises(ValueError, match=r"between -2147483648 and 2147483647, got 2147483648"):
        Job(priority=2**31)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_ttl_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"Job.ttl must be a positive, finite .*got {bad!r}"):
        Job(ttl=bad)


@pytest.mark.parametrize("bad", [True, "5"])
def test_ttl_must_be_a_number(bad: object) -> None:
    with pytest.raises(TypeError, match=r"Job\.ttl must be a number of seconds or None"):
        Job(ttl=bad)  # type: ignore[arg-type]


def test_expired_is_terminal_and_reached_only_from_pending() -> None:
    assert JobStatus.EXPIRED in TERMINAL_STATUSES
    assert [s for s, moves in TRANSITIONS.items() if JobStatus.EXPIRED in moves] == [
        JobStatus.PENDING
    ]
    job = Job(ttl=1.0, created=10.0)
    assert job.expires_at == 11.0
    job.mark_expired(12.0)
    assert (job.status, job.finished, job.is_final) == (JobStatus.EXPIRED, 12.0, True)
    running = Job()
    running.mark_claimed("w", 1.0)
    with pytest.raises(InvalidTransition, match="'processing' to 'expired'"):
        running.mark_expired(2.0)
    assert running.expires_at is None
