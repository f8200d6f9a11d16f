"""One payload rule for every store: standard JSON, checked when the Job is made.

What is accepted comes back from memory, SQLite and PostgreSQL exactly as given (types
included); what is refused is refused by ``Job(...)`` itself, with an error naming the field,
so no store ever sees it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from jobsim import Job
from jobsim.payload import MAX_NAME_LENGTH
from jobsim.stores import JobStore

pytestmark = pytest.mark.anyio

ACCEPTED: list[dict[str, Any]] = [
    {"nested": {"list": [1, 2.5, None, True, "x", {"deep": []}], "empty": {}}},
    {"big": 2**62, "neg": -(2**62), "zero": 0.0, "tiny": 5e-324, "float": 123456.789},
    {"emoji 😀": "astral 😀 and combining e\u0301", "ctl": "tab\tnew\nline\x7f"},
    {"backslash": "\\u0000 is text, not NUL", "quote": '"', "empty": ""},
    {"": "an empty key is a string key"},
]

REFUSED: list[tuple[dict[Any, Any], type[Exception], str]] = [
    ({"n": math.nan}, ValueError, r"Job.payload\['n'\] is nan, which is not standard JSON"),
    ({"a": [1, math.inf]}, ValueError, r"Job.payload\['a'\]\[1\] is inf"),
    ({"a": {"b": -math.inf}}, ValueError, r"Job.payload\['a'\]\['b'\] is -inf"),
    ({1: "a"}, TypeError, r"key 1 \(int\); JSON keys must be strings"),
    ({"a": {None: 1}}, TypeError, r"Job.payload\['a'\] has the key None"),
    ({"t": (1, 2)}, TypeError, r"Job.payload\['t'\] is a tuple.*pass a list"),
    ({"s": {1, 2}}, TypeError, r"Job.payload\['s'\] holds a set.*not JSON"),
    ({"b": b"bytes"}, TypeError, r"Job.payload\['b'\] holds a bytes"),
    ({"nul": "a\x00b"}, ValueError, r"Job.payload\['nul'\] contains a NUL"),
    ({"k\x00": 1}, ValueError, r"key 'k\\x00' contains a NUL"),
    ({"l": ["ok", "\ud800"]}, ValueError, r"Job.payload\['l'\]\[1\] contains the lone surrogate"),
    ({"\udfff": 1}, ValueError, r"lone surrogate"),
]


@pytest.mark.parametrize("payload", ACCEPTED, ids=range(len(ACCEPTED)))
async def test_accepted_payloads_come_back_identical_from_every_store(
    store: JobStore, payload: dict[str, Any]
) -> None:
    job = await store.add(Job(payload=payload))
    back = (await store.get(job.id)).payload
    assert back == payload
    assert _shape(back) == _shape(payload)  # same types all the way down (no tuple -> list)


@pytest.mark.parametrize(("payload", "error", "match"), REFUSED, ids=range(len(REFUSED)))
def test_refused_payloads_fail_at_job_creation_naming_the_field(
    payload: dict[Any, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Job(payload=payload)


@pytest.mark.parametrize(
    "job_id", ["a", "x" * MAX_NAME_LENGTH, "ünïcödé-😀", "with space/slash:colon#hash"]
)
async def test_accepted_ids_round_trip_in_every_store(store: JobStore, job_id: str) -> None:
    await store.add(Job(id=job_id, type=job_id))
    got = await store.get(job_id)
    assert (got.id, got.type) == (job_id, job_id)


@pytest.mark.parametrize(
    ("field", "value", "error", "match"),
    [
        ("id", "", ValueError, "Job.id must be a non-empty string"),
        ("id", "x" * (MAX_NAME_LENGTH + 1), ValueError, f"at most {MAX_NAME_LENGTH}"),
        ("id", "a\x00b", ValueError, "unprintable character '\\\\x00'"),
        ("id", "a\ud800", ValueError, "unprintable"),
        ("id", "line\nbreak", ValueError, "unprintable"),
        ("id", 12, TypeError, "Job.id must be a string"),
        ("type", "", ValueError, "Job.type must be a non-empty string"),
        ("type", None, TypeError, "Job.type must be a string"),
    ],
)
def test_bad_ids_and_types_are_refused_with_a_clear_error(
    field: str, value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Job(**{field: value})


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__
