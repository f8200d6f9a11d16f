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
def test_plain_mser5_cuts_a_congested_stretch_and_steady_refuses_it(text: str) -> None:
    truth = theory.mmc(3.2, 1.0, 4).wq
    assert f"Wq = {truth:.4f} s" in text
    match = re.search(
        r"Plain MSER-5 cuts (\d+) of ([\d,]+) jobs \(([\d.]+)%\): they waited ([\d.]+) s on "
        r"average, the rest ([\d.]+) s",
        text,
    )
    assert match
    cut, jobs = int(match.group(1)), int(match.group(2).replace(",", ""))
    assert 0 < cut < jobs / 2
    assert float(match.group(3)) == pytest.approx(100 * cut / jobs, abs=0.051)
    assert float(match.group(4)) > float(match.group(5))  # the deleted jobs waited longer
    means = re.search(
        r"steady\(\) cuts (\d+) jobs; mean wait of the whole run ([\d.]+) s, after the plain "
        r"cut ([\d.]+) s, steady ([\d.]+) s",
        text,
    )
    assert means and int(means.group(1)) == 0
    whole, plain, kept = (float(means.group(n)) for n in (2, 3, 4))
    assert kept == whole and plain < whole  # the plain cut would have biased the mean low


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_batch_means_is_wider_than_the_naive_interval(text: str) -> None:
    naive = re.search(r"naive interval: +[\d.]+ ± ([\d.]+)", text)
    batched = re.search(
        r"batch-means interval: ([\d.]+) \[([\d.]+), ([\d.]+)\] .*adjusted batch means.*"
        r"covers Erlang C: True",
        text,
    )
    ratio = re.search(r"batch means is ([\d.]+)x wider", text)
    assert naive and batched and ratio
    mean, low, high = (float(batched.group(n)) for n in (1, 2, 3))
    assert low < mean < high and (high - low) / 2 > 3 * float(naive.group(1))
    assert high - mean > mean - low  # right-skewed waits: the longer arm is the upper one
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
