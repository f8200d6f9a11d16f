"""The command-line processes: passwords never reach logs or stderr; a second signal forces
``jobsim worker`` out.

Real processes: ``python -m jobsim serve`` and ``python -m jobsim worker`` against a real
PostgreSQL server (trust authentication, so a password in the URL is accepted and ignored by
the server, and must still never be printed) and against unreachable or malformed URLs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobsim import Job
from jobsim.stores import open_store

PASSWORD = "Zx9-secret-Qw7"
TESTS = Path(__file__).parent


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "jobsim", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def _start_and_stop(args: list[str], ready: str, env: dict[str, str] | None = None) -> str:
    """Start a process, wait until its stderr says ``ready``, SIGTERM it; all it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobsim", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if ready in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    text = "".join(seen) + err + out
    assert ready in text, text
    assert proc.returncode == 0, text
    return text


def _with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bob:{PASSWORD}@127.0.0.1:1/jobs",  # unreachable
        f"postgresql://bob:{PASSWORD}/x#y@127.0.0.1:1/jobs",  # unencoded / and #
        f"postgresql://bob:{PASSWORD}@127.0.0.1:notaport/jobs",  # libpq cannot parse it
        f"postgresql://127.0.0.1:1/jobs?password={PASSWORD}",
    ],
    ids=["unreachable", "special-characters", "unparsable", "query-parameter"],
)
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_failing_store_urls_never_print_the_password(command: str, url: str) -> None:
    if command == "serve":
        text = _run(["serve", "--port", "0"], env={"JOBSIM_STORE": url})
        assert text.startswith("exit 2"), text
    else:
        text = _run(["worker", "--store", url, "--outage-limit", "1"])
        assert text.startswith("exit 1"), text
    assert PASSWORD not in text and "secret" not in text, text
    assert "***" in text, text


def test_running_serve_and_worker_never_log_the_password(postgres_url: str) -> None:
    url = _with_password(postgres_url, PASSWORD)
    serve = _start_and_stop(
        ["serve", "--port", "0", "--log-level", "debug"], "listening on", {"JOBSIM_STORE": url}
    )
    worker = _start_and_stop(["worker", "--store", url, "--workers", "2"], "workers pulling")
    for text in (serve, worker):
        assert PASSWORD not in text, text
        assert "postgres:***@" in text, text


def test_a_second_signal_forces_the_worker_out(tmp_path: Path) -> None:
    import anyio

    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    async def add() -> None:
        store = await open_store(url)
        await store.add(Job(payload={"duration": 600}))
        await store.close()

    anyio.run(add)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobsim",
            "worker",
            "--store",
            url,
            "--grace",
            "600",
            "--poll",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def status() -> str:
        store = await open_store(url)
        job = (await store.list())[0]
        await store.close()
        return f"{job.status.value} {job.attempts}"

    assert proc.stderr is not None
    while "workers pulling" not in (line := proc.stderr.readline()):
        assert line, "the worker never started"
    deadline = time.monotonic() + 60
    while anyio.run(status) != "processing 1":  # wait until the job is claimed and sleeping
        assert time.monotonic() < deadline, "the worker never claimed the job"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    # The second signal must come after the first was handled, else it would be the first.
    while "SIGINT received, stopping" not in (line := proc.stderr.readline()):
        assert line, "the worker exited on the first signal"
    time.sleep(0.5)
    assert proc.poll() is None  # graceful: it waits for the job (grace 600 s)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "SIGTERM again: forcing exit" in err and "forced exit" in err
    assert "Traceback" not in err
    assert anyio.run(status) == "pending 1"  # put back, not left processing
