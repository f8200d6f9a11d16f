"""``--autoscale MIN:MAX`` on the job service and the worker command; /health and /metrics."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from jobsim import Autoscaler
from jobsim.worker import main as worker_main
from tests.test_http_server import run_cli, server


def test_autoscale_spec_parses_and_refuses_bad_bounds() -> None:
    scaler = Autoscaler.parse("2:20")
    assert (scaler.min, scaler.max) == (2, 20)
    for bad in ("20", "a:b", "2:"):
        with pytest.raises(ValueError, match="expected MIN:MAX"):
            Autoscaler.parse(bad)
    with pytest.raises(ValueError, match=r"Autoscaler\.max must be >= min"):
        Autoscaler.parse("5:2")


def test_serve_names_a_bad_autoscale() -> None:
    done = run_cli({}, "--autoscale", "5:2")
    assert done.returncode == 2
    assert "--autoscale" in done.stderr and "max must be >= min" in done.stderr


def test_worker_names_a_bad_autoscale(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        worker_main(["--store", "sqlite:///unused.db", "--autoscale", "x"])
    assert exit_.value.code == 2
    assert "--autoscale" in capsys.readouterr().err


def test_an_autoscaled_service_shows_its_worker_count() -> None:
    """Started with 6 workers and --autoscale 1:3: the autoscaler brings it into bounds, a
    burst of slow jobs grows it to 3 (never more), and /health and /metrics say so."""
    env = {"WORKER_COUNT": "6", "JOBSIM_JOB_DURATION": "0"}
    with server(env, "--autoscale", "1:3") as child:
        url = child.url()
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(100):
                health = client.get("/health").json()
                if health["workers"] <= 3 and health["live_workers"] <= 3:
                    break
                time.sleep(0.05)
            assert 1 <= health["workers"] <= 3
            for _ in range(8):
                posted = client.post("/jobs", json={"type": "t", "payload": {"duration": 3}})
                assert posted.status_code == 201
            for _ in range(100):
                health = client.get("/health").json()
                if health["workers"] == 3:
                    break
                time.sleep(0.05)
            assert health["workers"] == 3 and health["live_workers"] == 3
            metrics = client.get("/metrics").text.splitlines()
            gauges = {
                line.split()[0]: float(line.split()[1]) for line in metrics if line[:1] != "#"
            }
            assert gauges["jobsim_workers"] == 3 and gauges["jobsim_workers_live"] == 3, metrics
        child.proc.send_signal(signal.SIGTERM)
        assert child.stop() == 0, child.log
