"""What notebook 06-how-sure-are-we concludes, checked on its executed run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from lesson import text_of

from jobsim import theory

STEM = "06-how-sure-are-we"


@pytest.fixture(scope="module")
def text(executed: Callable[[str], Any]) -> str:
    return text_of(executed(STEM))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_warm_up_cut_is_printed_and_a_small_share(text: str) -> None:
    assert f"Wq = {theory.mmc(3.2, 1.0, 4).wq:.4f} s" in text
    match = re.search(r"MSER-5 cuts (\d+) of ([\d,]+) jobs \(([\d.]+)%\)", text)
    assert match
    cut, jobs = int(match.group(1)), int(match.group(2).replace(",", ""))
    assert 0 < cut < jobs / 2
    assert float(match.group(3)) == pytest.approx(100 * cut / jobs, abs=0.051)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_batch_means_is_wider_than_the_naive_interval(text: str) -> None:
    naive = re.search(r"naive interval: +[\d.]+ ± ([\d.]+)", text)
    batched = re.search(r"batch-means interval: [\d.]+ ± ([\d.]+) .*covers Erlang C: True", text)
    ratio = re.search(r"batch means is ([\d.]+)x wider", text)
    assert naive and batched and ratio
    assert float(batched.group(1)) > 3 * float(naive.group(1))
    assert float(ratio.group(1)) > 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_intervals_shrink_with_runs_and_replicate_stops_at_the_precision(text: str) -> None:
    widths = [float(w) for w in re.findall(r"\d+ runs: half width ([\d.]+) s", text)]
    assert len(widths) == 4
    assert widths == sorted(widths, reverse=True)
    stopped = re.search(
        r"stopped after (\d+) runs: .*relative half width ([\d.]+); covers Erlang C: (\w+)", text
    )
    assert stopped
    assert int(stopped.group(1)) > 5 and float(stopped.group(2)) <= 0.05
    assert stopped.group(3) == "True"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_three_views_side_by_side(text: str) -> None:
    for view in ("theory (Erlang C)", "virtual time", "real time"):
        assert view in text
    overhead = re.search(
        r"extra service time per job \(the machine's overhead\): ([\d.-]+) ms", text
    )
    assert overhead and float(overhead.group(1)) >= 0
