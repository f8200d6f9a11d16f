"""Request and response bodies of the job service (pydantic models, shown in ``/openapi.json``).

New request fields go on :class:`JobCreate`; the route passes them on to :class:`Job`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobsim.domain import PRIORITY_RANGE, JobStatus
from jobsim.handlers import MAX_DURATION
from jobsim.payload import check_payload

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DURATION",
    "TYPE_PATTERN",
    "ErrorBody",
    "Health",
    "JobCreate",
    "JobList",
    "JobOut",
    "JobPayload",
    "check_plain_json",
]

#: Largest request body accepted (bytes); larger ones get 413.
MAX_BODY_BYTES = 64 * 1024
#: What ``POST /jobs`` accepts as a job type: a name (Unicode letters and digits, ``_``,
#: spaces and ``. : / @ + -``), so no type can carry markup or control characters.
TYPE_PATTERN = r"^[\w .:/@+-]+$"


def _find(value: Any, bad: Callable[[str], bool], path: str) -> str | None:
    """The path of the first string (key or value) in ``value`` for which ``bad`` holds."""
    if isinstance(value, str):
        return path if bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key!a}" if isinstance(key, str) and bad(key) else None
            found = here or _find(item, bad, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _find(item, bad, f"{path}[{i}]")) is not None:
                return found
    return None


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _nul(text: str) -> bool:
    return "\x00" in text


def check_plain_json(value: Any, where: str) -> None:
    """Raise ValueError unless ``value`` is JSON every store and every response can carry:
    no NaN or Infinity, no lone surrogate (``\\ud800``), no NUL character.

    One ``json.dumps`` in C does the work; the recursive walk only runs to name the field of
    a value already known to be bad.
    """
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise ValueError(f"{where} must be plain JSON: no NaN or Infinity") from None
    if _surrogate(text):
        field = _find(value, _surrogate, where) or where
        raise ValueError(
            f"{field} holds a lone surrogate (\\ud800-\\udfff): strings must be valid Unicode"
        )
    if "\\u0000" in text and (nul := _find(value, _nul, where)) is not None:
        raise ValueError(f"{nul} holds a NUL character (\\u0000), which no store can keep")


class JobPayload(BaseModel):
    """Arguments for the handler: any JSON object. The built-in handler reads ``duration``."""

    model_config = ConfigDict(extra="allow")

    duration: float | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION,
        strict=True,
        allow_inf_nan=False,
        description="Seconds the built-in handler sleeps (default: JOBSIM_JOB_DURATION).",
    )

    @model_validator(mode="after")
    def _plain_json(self) -> JobPayload:
        # json.loads accepts NaN, Infinity, lone surrogates and NUL, which a response (and
        # some stores) cannot carry back: refuse them before anything is stored. ``duration``
        # is a finite float already; the other fields are the extras.
        if extra := self.model_extra:
            try:
                check_payload(extra)  # the domain's rule: one loop of type checks when plain
            except (TypeError, ValueError) as exc:
                check_plain_json(extra, "payload")  # names the field in the API's terms
                raise ValueError(str(exc)) from None
        return self


class JobCreate(BaseModel):
    """Body of ``POST /jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "email", "payload": {"duration": 0.5}}]},
    )

    type: str = Field(
        min_length=1,
        max_length=200,
        pattern=TYPE_PATTERN,
        description="What kind of work this is: a name of letters, digits, spaces and "
        "`_ . : / @ + -`.",
    )
    payload: JobPayload = Field(default_factory=JobPayload, description="A JSON object.")
    priority: int = Field(
        default=0,
        strict=True,
        ge=PRIORITY_RANGE.start,
        le=PRIORITY_RANGE.stop - 1,
        description="An integer; higher runs first (with --dispatch priority), FIFO within "
        "one priority.",
    )
    ttl: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds the job may wait for its first start; a job not started by then "
        "never runs and ends `expired`.",
    )

    @field_validator("priority", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON (and the OpenAPI schema) call 3.0 an integer; strings and booleans stay refused.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class JobOut(BaseModel):
    """A job as the store holds it. Timestamps are seconds since the epoch."""

    id: str
    type: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    timeout: float | None
    priority: int
    ttl: float | None
    worker_id: str | None
    created: float | None
    started: float | None
    finished: float | None
    result: Any = None
    error: str | None
    lease_expires: float | None


class JobList(BaseModel):
    """A page of jobs in creation order, bounded in count (``limit``) and in bytes."""

    jobs: list[JobOut]
    limit: int
    offset: int
    next_offset: int | None = Field(
        default=None, description="Offset of the next page; null when there are no more jobs."
    )
    truncated: bool = Field(
        default=False, description="True when the size bound ended this page before `limit`."
    )


class Health(BaseModel):
    """Liveness and load."""

    status: str = Field(description="The pool's state: running, closing or closed.")
    workers: int = Field(description="Workers the pool aims for (its current size).")
    live_workers: int = Field(description="Worker tasks running now (surplus ones included).")
    busy: int = Field(description="Workers running a job now.")
    queue_depth: int = Field(description="Job ids waiting in the channel.")
    capacity: int = Field(description="Slots in the channel.")
    counts: dict[str, int] = Field(description="Jobs in the store by status.")
    totals: dict[str, int] = Field(
        description="What this pool did since it started: completed, failed, retried, ..."
    )


class ErrorBody(BaseModel):
    """Every error response: what was wrong, and per-field details for invalid input."""

    error: str
    details: list[dict[str, Any]] | None = None
