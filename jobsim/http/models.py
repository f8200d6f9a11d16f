"""Request and response bodies of the job service (pydantic models, shown in ``/openapi.json``).

New request fields go on :class:`JobCreate`; the route passes them on to :class:`Job`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobsim.domain import JobStatus

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DURATION",
    "ErrorBody",
    "Health",
    "JobCreate",
    "JobList",
    "JobOut",
    "JobPayload",
]

#: Largest request body accepted (bytes); larger ones get 413.
MAX_BODY_BYTES = 64 * 1024
#: Longest ``payload.duration`` the built-in handler accepts (seconds).
MAX_DURATION = 3600.0


class JobPayload(BaseModel):
    """Arguments for the handler: any JSON object. The built-in handler reads ``duration``."""

    model_config = ConfigDict(extra="allow")

    duration: float | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION,
        strict=True,
        description="Seconds the built-in handler sleeps (default: JOBSIM_JOB_DURATION).",
    )

    @model_validator(mode="after")
    def _plain_json(self) -> JobPayload:
        # json.loads accepts NaN and Infinity, which no JSON response can carry back.
        try:
            json.dumps(self.model_dump(), allow_nan=False)
        except ValueError:
            raise ValueError("payload must be plain JSON: no NaN or Infinity") from None
        return self


class JobCreate(BaseModel):
    """Body of ``POST /jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "email", "payload": {"duration": 0.5}}]},
    )

    type: str = Field(min_length=1, max_length=200, description="What kind of work this is.")
    payload: JobPayload = Field(default_factory=JobPayload, description="A JSON object.")


class JobOut(BaseModel):
    """A job as the store holds it. Timestamps are seconds since the epoch."""

    id: str
    type: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    timeout: float | None
    worker_id: str | None
    created: float | None
    started: float | None
    finished: float | None
    result: Any = None
    error: str | None
    lease_expires: float | None


class JobList(BaseModel):
    """A page of jobs in creation order."""

    jobs: list[JobOut]
    limit: int
    offset: int


class Health(BaseModel):
    """Liveness and load."""

    status: str = Field(description="The pool's state: running, closing or closed.")
    workers: int
    busy: int = Field(description="Workers running a job now.")
    queue_depth: int = Field(description="Job ids waiting in the channel.")
    capacity: int = Field(description="Slots in the channel.")
    counts: dict[str, int] = Field(description="Jobs in the store by status.")


class ErrorBody(BaseModel):
    """Every error response: what was wrong, and per-field details for invalid input."""

    error: str
    details: list[dict[str, Any]] | None = None
