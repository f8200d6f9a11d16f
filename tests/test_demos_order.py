"""The starvation and prefetch demos: deterministic, and the twins differ as they claim."""

from __future__ import annotations

import pytest

from jobsim import demos


def test_without_aging_bulk_jobs_starve_and_aging_lets_them_through() -> None:
    bug, fix = demos.starvation(), demos.starvation(fixed=True)
    assert bug.starved and not fix.starved
    assert bug.waits["bulk"] == [1.0, 31.0, 32.0]  # they ran when the urgent stream ended
    assert fix.bulk_max_wait <= 5.0 + 1.0  # one aging period, plus the job ahead
    assert demos.starvation() == bug  # deterministic


def test_prefetch_blocks_short_jobs_behind_the_long_one_and_the_channel_does_not() -> None:
    bug, fix = demos.prefetch_demo(), demos.prefetch_demo(fixed=True)
    assert bug.blocked == 4 and fix.blocked == 0
    assert max(bug.short_waits) == 11.5 and max(fix.short_waits) == 3.5
    assert fix.makespan < bug.makespan
    assert demos.prefetch_demo() == bug


def test_cli_narrates_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert demos.main(["starvation"]) == 0
    assert "starvation. Run with --fixed" in capsys.readouterr().out
    assert demos.main(["prefetch", "--k", "1"]) == 0
    assert "head-of-line blocking" in capsys.readouterr().out
    assert demos.main(["prefetch", "--workers", "1"]) == 2
    assert "workers must be >= 2" in capsys.readouterr().err
