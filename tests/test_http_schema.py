"""schemathesis against ``/openapi.json`` of a real ``python -m jobsim serve``: generated
requests (valid and invalid) never get a 5xx, and every response matches the documented
schema (status codes, content types, bodies, headers). Bounded: a few examples per route.

The cases come from schemathesis' plain Python API (``operation.as_strategy()`` driven by
hypothesis' ``@given``), not from its pytest plugin: the plugin reaches into pytest's
internals and breaks when either package moves on, while this API is schemathesis' own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from test_http_server import ServerProcess  # tests/ is on sys.path (rootdir-less test dir)


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    # Jobs finish at once unless a generated payload asks for a long "duration" (valid per
    # the schema); a roomy queue, so no 503 from load; no drain at exit.
    env = {
        "WORKER_COUNT": "4",
        "JOB_QUEUE_CAPACITY": "10000",
        "JOBSIM_JOB_DURATION": "0",
        "JOBSIM_SHUTDOWN_GRACE": "0",
    }
    child = ServerProcess(env, [])
    try:
        url = child.url()
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")
    finally:
        child.proc.terminate()
        child.stop()
        child.kill()


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    """Every operation the schema documents; a schema schemathesis cannot read fails here."""
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_documents_the_routes(api_schema: schemathesis.BaseSchema) -> None:
    labels = {operation.label for operation in operations(api_schema)}
    assert {"POST /jobs", "GET /jobs", "GET /jobs/{job_id}", "GET /health"} <= labels


def printable_type(case: schemathesis.Case) -> bool:
    """A job type must be printable text: a rule the domain enforces (422 otherwise) and the
    API documents in prose, which a JSON schema pattern cannot express. Valid cases keep it."""
    body = case.body if isinstance(case.body, dict) else {}
    return not isinstance(body.get("type"), str) or body["type"].isprintable()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    calls: Counter[str] = Counter()
    for operation in operations(api_schema):
        cases = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:
            cases = cases.filter(printable_type)

        @given(case=cases)
        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def conforms(case: schemathesis.Case) -> None:
            calls[case.operation.label] += 1
            case.call_and_validate()  # raises on a 5xx or a response the schema does not allow

        try:
            conforms()
        except Unsatisfiable:
            # Negative mode needs something that can be wrong: a route without parameters or
            # body, or with only a free-form string id in its path, has nothing invalid to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
    if mode is GenerationMode.POSITIVE:
        assert set(calls) == {op.label for op in operations(api_schema)}, calls
    else:
        assert {"POST /jobs", "GET /jobs"} <= set(calls), calls
