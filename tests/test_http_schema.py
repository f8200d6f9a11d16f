"""schemathesis against ``/openapi.json`` of a real ``python -m jobsim serve``: generated
requests (valid and invalid) never get a 5xx, and every response matches the documented
schema (status codes, content types, bodies, headers). Bounded: a few examples per route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
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


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
