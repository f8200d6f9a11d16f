"""The live dashboard in a real headless browser: Playwright driving Debian's chromium against
a real ``python -m jobsim serve``. The page must show the right counts, change without a
reload as jobs are posted and run, and show a ``<script>`` in a job as text, never run it.

Skipped only where chromium or Playwright is missing, and never in CI (CI=true): there it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from test_http_server import ServerProcess  # tests/ is on sys.path

from jobsim import Job
from jobsim.stores.sqlite import SQLiteJobStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVIL_TYPE = "<script>window.__pwned = 'type'</script>"
EVIL_PAYLOAD = {"note": "<img src=x onerror=\"window.__pwned='payload'\"><script>x()</script>"}


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI needs a headless browser for the dashboard test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _missing(f"Playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


async def _seed(db: Path) -> None:
    """A finished job whose type is HTML, as the Python API may store it (the HTTP API only
    takes plain names as types)."""
    store = await SQLiteJobStore.open(db)
    try:
        job = await store.add(Job(type=EVIL_TYPE, payload={"seeded": True}))
        assert await store.claim(job.id, "seeder")
        await store.complete(job.id, {"ok": True})
    finally:
        await store.close()


def _serve(env: dict[str, str]) -> Iterator[str]:
    child = ServerProcess(
        {"WORKER_COUNT": "2", "JOBSIM_JOB_DURATION": "0", "JOBSIM_SHUTDOWN_GRACE": "0", **env}, []
    )
    try:
        yield child.url()
        child.proc.send_signal(signal.SIGTERM)
        child.stop()
        assert "Traceback" not in child.log, child.log
    finally:
        child.kill()


@pytest.fixture
def service() -> Iterator[str]:
    yield from _serve({})


@pytest.fixture
def seeded_service(tmp_path: Path) -> Iterator[str]:
    db = tmp_path / "jobs.db"
    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread
        thread.submit(anyio.run, _seed, db).result()
    yield from _serve({"JOBSIM_STORE": f"sqlite:///{db}"})


def _text_becomes(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel)?.textContent === want",
        arg=[selector, text],
        timeout=15_000,
    )


def test_dashboard_shows_live_counts_and_escapes_job_contents(
    browser: Any, service: str, tmp_path: Path
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    with httpx.Client(base_url=service, timeout=10) as client:
        for i in range(3):  # three quick jobs, finished before the page opens
            assert client.post("/jobs", json={"type": "quick", "payload": {"i": i}}).is_success
        page.goto(f"{service}/dashboard")
        _text_becomes(page, "#count-completed", "3")
        _text_becomes(page, "#workers-idle", "2")
        page.evaluate("window.__sameDocument = true")

        # Two long jobs start: both workers busy, two processing, one more waits in the queue.
        for _ in range(3):
            body = {"type": "slow", "payload": {"duration": 60}}
            assert client.post("/jobs", json=body).is_success
        _text_becomes(page, "#workers-busy", "2")
        _text_becomes(page, "#count-processing", "2")
        _text_becomes(page, "#count-pending", "1")
        _text_becomes(page, "#queue-depth", "1 / 100")
        assert float(page.text_content("#rate-now") or "nan") >= 0
        assert page.locator("#throughput rect").count() == 30
        assert page.locator("#recent tr").count() == 6

        # A job whose payload is HTML: shown as text, never run.
        evil = client.post("/jobs", json={"type": "html", "payload": EVIL_PAYLOAD}).json()
        row = f'#recent tr[data-id="{evil["id"]}"]'
        page.wait_for_selector(row, timeout=15_000)
        assert "<img src=x onerror=" in (page.text_content(f"{row} td.payload") or "")
        assert page.locator("#recent img, #recent script").count() == 0
        page.wait_for_timeout(1500)  # a poll or two later, still nothing ran
        assert page.evaluate("window.__pwned") is None

        screenshot = tmp_path / "dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000

        # Cancelling changes the counts on the same page, still without a reload.
        client.delete(f"/jobs/{evil['id']}")
        _text_becomes(page, "#count-cancelled", "1")
    assert page.evaluate("window.__sameDocument") is True
    assert navigations == [f"{service}/dashboard"]
    assert errors == []
    page.close()


def test_a_job_type_holding_a_script_shows_as_text(browser: Any, seeded_service: str) -> None:
    page = browser.new_page()
    page.goto(f"{seeded_service}/dashboard")
    cell = page.wait_for_selector("#recent td.type", timeout=15_000)
    assert cell is not None and cell.text_content() == EVIL_TYPE
    assert page.locator("#recent script, #recent img").count() == 0
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__pwned") is None
    page.close()


def test_dashboard_routes_answer_404_and_405_like_the_api(service: str) -> None:
    with httpx.Client(base_url=service, timeout=10) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/dashboard/app.js").headers["content-type"].startswith("text/javascript")
        data = client.get("/dashboard/data").json()
        assert data["workers"] == 2 and data["idle"] == 2 and len(data["throughput"]) == 30
        for method, path, status in [
            ("POST", "/dashboard", 405),
            ("DELETE", "/dashboard/data", 405),
            ("PUT", "/dashboard/app.js", 405),
            ("GET", "/dashboard/nope", 404),
            ("GET", "/dashboard/data/1", 404),
        ]:
            r = client.request(method, path)
            assert r.status_code == status, (method, path, r.text)
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"]
