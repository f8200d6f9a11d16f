"""The job service and who runs next: priority and ttl on POST /jobs, expired jobs listed
and counted. Real server on asyncio, the same app over ASGI on trio (see test_http_api)."""

from __future__ import annotations

import pytest
from test_http_api import running_api, wait_for_status  # tests/ is on sys.path

pytestmark = pytest.mark.anyio


async def test_priority_and_ttl_are_stored_and_returned(anyio_backend: str) -> None:
    async with running_api(anyio_backend) as api:
        r = await api.client.post("/jobs", json={"type": "a", "priority": 7, "ttl": 30})
        assert r.status_code == 201, r.text
        job = r.json()
        assert (job["priority"], job["ttl"]) == (7, 30.0)
        stored = await api.store.get(job["id"])
        assert (stored.priority, stored.ttl) == (7, 30.0)
        plain = (await api.client.post("/jobs", json={"type": "b"})).json()
        assert (plain["priority"], plain["ttl"]) == (0, None)


async def test_a_job_past_its_ttl_is_listed_and_counted_as_expired(anyio_backend: str) -> None:
    async with running_api(anyio_backend, workers=1) as api:
        blocker = await api.client.post(
            "/jobs", json={"type": "slow", "payload": {"duration": 0.3}}
        )
        short = await api.client.post("/jobs", json={"type": "late", "ttl": 0.05})
        job = await wait_for_status(api.client, short.json()["id"], "expired")
        assert job["started"] is None and job["attempts"] == 0
        await wait_for_status(api.client, blocker.json()["id"], "completed")
        listed = (await api.client.get("/jobs", params={"status": "expired"})).json()
        assert [j["id"] for j in listed["jobs"]] == [job["id"]]
        metrics = (await api.client.get("/metrics")).text
        assert 'jobsim_jobs{status="expired"} 1.0' in metrics
        assert (await api.client.get("/health")).json()["counts"]["expired"] == 1


BAD_FIELDS = [
    # (body, the field named in the error, words of the reason)
    (b'{"type": "a", "priority": 1.5}', "body.priority", "integer"),
    (b'{"type": "a", "priority": true}', "body.priority", "integer"),
    (b'{"type": "a", "priority": "3"}', "body.priority", "integer"),
    (b'{"type": "a", "priority": 2147483648}', "body.priority", "less than or equal"),
    (b'{"type": "a", "ttl": -1}', "body.ttl", "greater than 0"),
    (b'{"type": "a", "ttl": 0}', "body.ttl", "greater than 0"),
    (b'{"type": "a", "ttl": NaN}', "body.ttl", "finite"),
    (b'{"type": "a", "ttl": "soon"}', "body.ttl", "number"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD_FIELDS)
async def test_bad_priority_or_ttl_is_a_clear_422(
    anyio_backend: str, body: bytes, field: str, words: str
) -> None:
    async with running_api(anyio_backend) as api:
        r = await api.client.post(
            "/jobs", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, r.text
        error = r.json()
        assert field in error["error"] and words in error["error"], error
        assert await api.store.counts() == dict.fromkeys(await api.store.counts(), 0)


async def test_with_priority_dispatch_the_most_urgent_waiting_job_runs_next(
    anyio_backend: str,
) -> None:
    async with running_api(anyio_backend, workers=1, dispatch="priority") as api:
        post = api.client.post
        await post("/jobs", json={"type": "blocker", "payload": {"duration": 0.3}})
        low = (await post("/jobs", json={"type": "low", "priority": 0})).json()
        high = (await post("/jobs", json={"type": "high", "priority": 5})).json()
        done_low = await wait_for_status(api.client, low["id"], "completed")
        done_high = await wait_for_status(api.client, high["id"], "completed")
        assert done_high["started"] <= done_low["started"]
        assert done_high["finished"] <= done_low["started"]  # one worker: high ran first


@pytest.mark.parametrize(
    ("flag", "words"),
    [("lifo", "dispatch must be 'fifo', 'priority'"), ("prefetch:0", "k must be an integer >= 1")],
)
def test_a_bad_dispatch_flag_exits_2_naming_it(
    flag: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobsim.http.cli import main

    assert main(["--dispatch", flag]) == 2
    err = capsys.readouterr().err
    assert f"--dispatch={flag!r}" in err and words in err
