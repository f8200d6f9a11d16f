"""``python -m benchmarks http``: the baseline app, and one tiny run of the three servers.

No wall-clock or CPU thresholds: figures are only checked for being measured, and the ratio
for being what it says (a case's CPU per POST over the baseline's in the same repeat).
"""

from __future__ import annotations

import math

import httpx
import pytest

from benchmarks import http as suite
from benchmarks.http_baseline import create_app


@pytest.mark.anyio
async def test_the_baseline_validates_the_body_and_keeps_the_job() -> None:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/jobs", json={"type": "bench", "payload": {"i": 1}})
        assert r.status_code == 201
        assert r.json()["payload"] == {"i": 1} and r.json()["status"] == "pending"
        assert (await client.post("/jobs", json={"type": "<b>", "payload": {}})).status_code == 422
        assert (await client.post("/jobs", json={"payload": {}})).status_code == 422
        assert (await client.get("/health")).json()["counts"]["kept"] == 1


def test_one_tiny_run_measures_the_baseline_and_both_stores() -> None:
    frame = suite.run(repeat=2, jobs=40, progress=False, concurrency=4)
    assert sorted(frame["case"]) == sorted(suite.CASES * 2)
    assert (frame["jobs"] == 40).all()
    assert frame["server_cpu_per_post_s"].map(math.isfinite).all()
    assert (frame["server_cpu_per_post_s"] >= 0).all()
    assert (frame["throughput_jobs_s"] > 0).all()
    for _, run in frame.groupby("repeat"):
        by_case = run.set_index("case")["server_cpu_per_post_s"]
        ratios = run.set_index("case")["cpu_ratio"]
        if by_case["baseline"] > 0:  # /proc counts in clock ticks: a tiny run may see none
            assert ratios["baseline"] == 1.0
            assert ratios["sqlite"] == pytest.approx(by_case["sqlite"] / by_case["baseline"])
    assert len(suite.notes(frame)) == len(suite.CASES)


def test_the_suite_refuses_trio_and_virtual_time() -> None:
    with pytest.raises(ValueError, match="asyncio only"):
        suite.run(backend="trio")
    with pytest.raises(ValueError, match="real"):
        suite.run(clock="virtual")
