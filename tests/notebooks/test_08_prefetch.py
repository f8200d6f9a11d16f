"""What notebook 08-prefetch-and-head-of-line-blocking concludes, checked on its executed run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

STEM = "08-prefetch-and-head-of-line-blocking"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def conclusion(executed: Callable[[str], Any]) -> str:
    return printed(tagged(executed(STEM), "conclusion"))


def test_prefetch_blocks_short_jobs_and_more_prefetch_blocks_more(conclusion: str) -> None:
    ratios = {}
    for k in (1, 4):
        p99, shared, ratio, mean, shared_mean = numbers(
            rf"Prefetch\({k}\): short jobs' p99 wait ([\d.]+) s vs ([\d.]+) s on the shared "
            r"channel \(([\d.]+)x\), mean ([\d.]+) s vs ([\d.]+) s",
            conclusion,
        )
        assert ratio == pytest.approx(p99 / shared, abs=0.06)
        assert p99 > 1.3 * shared and mean > shared_mean
        ratios[k] = ratio
    assert ratios[4] > ratios[1], "a deeper buffer parks more jobs behind a long one"
    assert "Lowest p99 wait for short jobs: shared channel." in conclusion


def test_the_table_and_plot_name_the_three_dispatches(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    assert result(tagged(nb, "plot")) == ["shared channel", "Prefetch(1)", "Prefetch(4)"]
    assert any("image/png" in o.get("data", {}) for o in tagged(nb, "plot").outputs)
    table = tagged(nb, "table").outputs[-1]["data"]["text/plain"]
    assert all(
        re.search(rf"^{re.escape(label)}\s", table, re.M)
        for label in ("shared channel", "Prefetch(1)", "Prefetch(4)")
    )


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    assert_exercise(
        executed(STEM),
        "Right: the shared channel.",
        "shared channel",
        {"Prefetch(4)": "look at its tail", "Prefetch(1)": "Even one buffered job", "x": "labels"},
    )
