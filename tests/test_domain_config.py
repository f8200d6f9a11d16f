"""Job, JobStatus and their legal moves; Config.from_env validation."""

from __future__ import annotations

import itertools

import pytest

from jobsim import Config, ConfigError, InvalidTransition, Job, JobStatus
from jobsim.domain import TRANSITIONS, check_transition

LEGAL = {
    ("pending", "processing"),
    ("pending", "cancelled"),
    ("pending", "expired"),
    ("processing", "completed"),
    ("processing", "failed"),
    ("processing", "pending"),
    ("processing", "cancelled"),
}


def test_new_job_is_pending_with_a_fresh_id() -> None:
    a, b = Job(type="email", payload={"to": "x"}), Job(type="email")
    assert a.status is JobStatus.PENDING and a.attempts == 0
    assert a.id != b.id and len(a.id) == 32
    assert JobStatus.PENDING == "pending"


@pytest.mark.parametrize(("old", "new"), list(itertools.product(JobStatus, JobStatus)))
def test_only_the_documented_moves_are_legal(old: JobStatus, new: JobStatus) -> None:
    if (old.value, new.value) in LEGAL:
        check_transition("j", old, new)
        assert new in TRANSITIONS[old]
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition("j", old, new)
        message = str(info.value)
        assert repr(old.value) in message and repr(new.value) in message


def test_job_methods_walk_the_life_cycle() -> None:
    job = Job()
    job.mark_claimed("w-1", 1.0)
    assert (job.status, job.attempts, job.worker_id, job.started) == ("processing", 1, "w-1", 1.0)
    job.mark_released("try again")
    job.mark_claimed("w-2", 2.0)
    job.mark_completed({"ok": True}, 3.0)
    assert job.attempts == 2 and job.result == {"ok": True} and job.finished == 3.0
    with pytest.raises(InvalidTransition, match="it is final"):
        job.mark_cancelled(4.0)


def test_job_round_trips_through_a_dict() -> None:
    job = Job(type="t", payload={"n": 1}, max_attempts=3)
    assert Job.from_dict(job.to_dict()).to_dict() == job.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type": ""}, "Job.type must be a non-empty string"),
        ({"payload": [1]}, "Job.payload must be a dict"),
        ({"max_attempts": 0}, "Job.max_attempts must be an integer >= 1"),
        ({"timeout": -1}, "Job.timeout must be a positive number"),
        ({"status": "sleeping"}, "'sleeping' is not a valid JobStatus"),
    ],
)
def test_bad_job_fields_are_named(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        Job(**kwargs)  # type: ignore[arg-type]


def test_config_defaults_match_the_seed() -> None:
    config = Config.from_env({})
    assert (config.port, config.worker_count, config.job_queue_capacity) == (8080, 10, 100)


def test_config_reads_the_environment() -> None:
    env = {"PORT": "9000", "WORKER_COUNT": " 32 ", "JOB_QUEUE_CAPACITY": "500", "HOST": "0.0.0.0"}
    config = Config.from_env(env)
    assert (config.port, config.worker_count, config.job_queue_capacity) == (9000, 32, 500)
    assert config.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_COUNT", "abc"),
        ("WORKER_COUNT", "0"),
        ("WORKER_COUNT", "-3"),
        ("WORKER_COUNT", "2.5"),
        ("PORT", "99999999"),
        ("PORT", ""),
        ("PORT", "1_8082"),
        ("PORT", "+8082"),
        ("PORT", "8082.0"),
        ("PORT", "\u0663"),  # an Arabic-Indic digit: int() takes it
        ("JOBSIM_SHUTDOWN_GRACE", "1e3"),
        ("JOBSIM_SHUTDOWN_GRACE", "inf"),
        ("JOBSIM_KEEP_FINISHED", "-1"),
        ("JOBSIM_MAX_CONNECTIONS", "0"),
        ("JOBSIM_REQUEST_TIMEOUT", "0"),
        ("JOB_QUEUE_CAPACITY", "0"),
        ("JOBSIM_SHUTDOWN_GRACE", "nan"),
        ("JOBSIM_JOB_DURATION", "-1"),
        ("HOST", "  "),
    ],
)
def test_bad_values_raise_config_error_naming_variable_and_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({name: value})
    message = str(info.value)
    assert message.startswith(f"{name}={value!r} is invalid")
    assert info.value.name == name


def test_twin_copies_every_field_but_id_and_payload() -> None:
    """Job._twin (the lab's bulk maker) keeps every other field of its model, so a field
    added to Job later cannot be left out of it silently."""
    from dataclasses import fields

    model = Job(type="mail", payload={"i": 0}, id="job-0", max_attempts=3, priority=7, ttl=2.5)
    model.timeout, model.created, model.error = 4.0, 1.0, "e"
    twin = model._twin("job-9", {"i": 9})
    assert (twin.id, twin.payload) == ("job-9", {"i": 9})
    for f in fields(Job):
        if f.name not in ("id", "payload"):
            assert getattr(twin, f.name) == getattr(model, f.name), f.name
    assert twin.payload is not model.payload
