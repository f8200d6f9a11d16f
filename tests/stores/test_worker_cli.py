"""``python -m jobsim worker``: argument and store errors, and the built-in handler.

(Running workers, SIGTERM and kill -9 are covered with real processes in
tests/test_multiprocess.py.)
"""

from __future__ import annotations

import pytest

from jobsim import Job
from jobsim.worker import load_handler, main, sleep_handler


def test_a_store_not_shared_between_processes_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--store", "memory://", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "not shared between processes" in err and "sqlite:///" in err


def test_an_unreachable_store_exits_1_with_the_password_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--store", "postgresql://u:hunter2@127.0.0.1:1/db", "--outage-limit", "0"]) == 1
    err = capsys.readouterr().err
    assert "postgresql://u:***@127.0.0.1:1/db" in err and "hunter2" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--lease", "0"], "--lease must be > 0"),
        (["--handler", "nocolon"], "package.module:function"),
        (["--handler", "jobsim.nope:x"], "cannot import"),
        (["--handler", "jobsim.worker:missing"], "no callable 'missing'"),
    ],
)
def test_bad_arguments_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--store", "sqlite:///x.db", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_load_handler_imports_module_colon_function() -> None:
    assert load_handler("jobsim.worker:main") is main


@pytest.mark.anyio
async def test_builtin_handler_sleeps_the_payload_duration_or_the_default() -> None:
    handle = sleep_handler(0.0)
    assert await handle(Job(payload={"duration": 0.01})) == {"slept": 0.01}
    assert await handle(Job()) == {"slept": 0.0}
    with pytest.raises(ValueError, match="payload\\['duration'\\] must be a number"):
        await handle(Job(payload={"duration": "soon"}))
    with pytest.raises(ValueError, match=">= 0"):
        await handle(Job(payload={"duration": -1}))
