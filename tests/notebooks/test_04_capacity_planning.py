"""What notebook 04-capacity-planning concludes, checked on its executed run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from lesson import text_of

from jobsim import theory

STEM = "04-capacity-planning"
TARGET = 0.4


@pytest.fixture(scope="module")
def text(executed: Callable[[str], Any]) -> str:
    return text_of(executed(STEM))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_answer_is_erlang_cs_and_the_simulation_states_its_interval(text: str) -> None:
    answer = theory.workers_for(8.0, 1.0, TARGET, percentile=0.95)
    assert f"the fewest workers with p95 wait <= {TARGET} s is {answer}" in text
    rows = re.findall(
        r"(\d+) workers: simulated p95 wait ([\d.]+) s, 95% interval ([\d.]+)-([\d.]+) s "
        r"over (\d+) runs of ([\d,]+) jobs \((.*?)\); Erlang C says ([\d.]+) s",
        text,
    )
    assert [int(r[0]) for r in rows] == [answer - 1, answer]
    for workers, mean, low, high, runs, jobs, verdict, erlang in rows:
        c = int(workers)
        # Theory's figure is theory's, the simulation's is the simulation's.
        assert float(erlang) == pytest.approx(theory.wait_quantile(0.95, 8.0, 1.0, c), abs=5e-4)
        assert float(low) <= float(mean) <= float(high)
        # The words match the numbers.
        if float(high) <= TARGET:
            assert verdict.startswith("the whole interval meets")
        elif float(low) > TARGET:
            assert verdict.startswith("the whole interval misses")
        else:
            assert "too close to call" in verdict
        assert int(runs) >= 2 and jobs.replace(",", "").isdigit()
    # The prose names no job count the code does not use.
    assert "2,000 jobs" not in text and "1,500" not in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_zero_p95_is_explained_and_true(text: str) -> None:
    match = re.search(r"At (\d+) workers only ([\d.]+)% of jobs wait at all", text)
    assert match
    c, share = int(match.group(1)), float(match.group(2)) / 100
    assert share == pytest.approx(theory.mmc(8.0, 1.0, c).p_wait, abs=5e-4)
    assert share < 0.05
    assert theory.wait_quantile(0.95, 8.0, 1.0, c) == 0.0
    assert "exactly 0.000 s, not a rounding" in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_verdict_follows_from_the_intervals(text: str) -> None:
    answer = theory.workers_for(8.0, 1.0, TARGET, percentile=0.95)
    clear = re.search(r"whole simulated interval is under the target: (\d+|None)", text)
    assert clear
    simulated = clear.group(1)
    if simulated == str(answer):
        assert f"Verdict: simulation and Erlang C agree: {answer} workers." in text
    else:
        assert f"Erlang C says {answer} workers" in text and "plan with the larger" in text
