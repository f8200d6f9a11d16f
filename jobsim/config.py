"""Configuration from the environment, validated: a bad value is an error, never a default.

The original Go service read ``PORT``, ``WORKER_COUNT`` and ``JOB_QUEUE_CAPACITY`` and fell back
silently to defaults on garbage. jobsim raises :class:`ConfigError` naming the variable, the
value it got and what is allowed, before anything starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from jobsim.domain import JobsimError

__all__ = ["Config", "ConfigError"]

T = TypeVar("T")


class ConfigError(JobsimError, ValueError):
    """An environment variable holds a value jobsim cannot use."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is invalid: {allowed}")


# Plain ASCII decimals only: Python's int()/float() would also take "1_8082", "+5", "٣",
# "1e3", "nan" and "inf", none of which a port or a count should be.
_DIGITS = {int: re.compile(r"[0-9]+"), float: re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")}


def _number(name: str, raw: str, kind: type[T], low: T, high: T, allowed: str) -> T:
    """Parse ``raw`` (ASCII digits, a decimal point for floats) as ``kind`` within
    ``[low, high]`` or raise :class:`ConfigError`."""
    text = raw.strip()
    if not _DIGITS[kind].fullmatch(text):
        raise ConfigError(name, raw, allowed)
    value = kind(text)  # type: ignore[call-arg]
    if not low <= value <= high:  # type: ignore[operator]
        raise ConfigError(name, raw, allowed)
    return value


def _int(name: str, raw: str, low: int, high: int) -> int:
    return _number(name, raw, int, low, high, f"expected an integer from {low} to {high}")


def _float(name: str, raw: str, low: float, high: float) -> float:
    allowed = f"expected a number of seconds from {low:g} to {high:g}"
    return _number(name, raw, float, low, high, allowed)


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(name, raw, "expected a non-empty value")
    return value


# Config field -> (environment variable, type, lowest, highest allowed value).
_NUMBERS: dict[str, tuple[str, type, float, float]] = {
    "port": ("PORT", int, 0, 65535),
    "worker_count": ("WORKER_COUNT", int, 1, 100_000),
    "job_queue_capacity": ("JOB_QUEUE_CAPACITY", int, 1, 10_000_000),
    "shutdown_grace": ("JOBSIM_SHUTDOWN_GRACE", float, 0.0, 86_400.0),
    "job_duration": ("JOBSIM_JOB_DURATION", float, 0.0, 3_600.0),
    "keep_finished": ("JOBSIM_KEEP_FINISHED", int, 0, 1_000_000_000),
    "keep_finished_for": ("JOBSIM_KEEP_FINISHED_FOR", float, 0.0, 1e9),
    "max_connections": ("JOBSIM_MAX_CONNECTIONS", int, 1, 1_000_000),
    "idle_timeout": ("JOBSIM_IDLE_TIMEOUT", float, 0.01, 86_400.0),
    "request_timeout": ("JOBSIM_REQUEST_TIMEOUT", float, 0.01, 86_400.0),
}
_TEXTS = {"host": "HOST", "store_url": "JOBSIM_STORE"}


@dataclass(frozen=True, slots=True)
class Config:
    """Service settings. Build one with :meth:`from_env`, or directly in code.

    Attributes:
        port: ``PORT``, TCP port of the HTTP service (1-65535; 0 picks a free one).
        worker_count: ``WORKER_COUNT``, workers in the pool (1-100,000).
        job_queue_capacity: ``JOB_QUEUE_CAPACITY``, slots in the bounded channel (1-10,000,000).
        host: ``HOST``, interface the service binds (loopback by default).
        store_url: ``JOBSIM_STORE``, where jobs live: ``memory://``, ``sqlite:///path``,
            ``postgresql://...``.
        shutdown_grace: ``JOBSIM_SHUTDOWN_GRACE``, seconds workers get to drain on shutdown.
        job_duration: ``JOBSIM_JOB_DURATION``, seconds the built-in handler sleeps per job.
        keep_finished: ``JOBSIM_KEEP_FINISHED``, finished jobs the service keeps (the most
            recently finished; older ones are deleted).
        keep_finished_for: ``JOBSIM_KEEP_FINISHED_FOR``, seconds a finished job is kept.
        max_connections: ``JOBSIM_MAX_CONNECTIONS``, open connections served at once; beyond
            it requests get 503.
        idle_timeout: ``JOBSIM_IDLE_TIMEOUT``, seconds a connection may sit without a request.
        request_timeout: ``JOBSIM_REQUEST_TIMEOUT``, seconds a client gets to send one whole
            request (headers and body); slower ones get 408.
    """

    port: int = 8080
    worker_count: int = 10
    job_queue_capacity: int = 100
    host: str = "127.0.0.1"
    store_url: str = "memory://"
    shutdown_grace: float = 30.0
    job_duration: float = 1.0
    keep_finished: int = 10_000
    keep_finished_for: float = 86_400.0
    max_connections: int = 1_000
    idle_timeout: float = 5.0
    request_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the settings from ``env`` (default ``os.environ``); unset means default.

        Raises :class:`ConfigError` for any value out of range or of the wrong type.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, (name, kind, low, high) in _NUMBERS.items():
            raw = env.get(name)
            if raw is not None:
                parse = _int if kind is int else _float
                values[field] = parse(name, raw, low, high)  # type: ignore[arg-type]
        for field, name in _TEXTS.items():
            raw = env.get(name)
            if raw is not None:
                values[field] = _text(name, raw)
        return cls(**values)
