"""What notebook 07-priorities-and-starvation concludes, checked on its executed run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

from jobsim.theory import mmc, priority_mmc

STEM = "07-priorities-and-starvation"
RATES = {"urgent": 0.7 * 0.3 * 4, "bulk": 0.7 * 0.7 * 4}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def conclusion(executed: Callable[[str], Any]) -> str:
    return printed(tagged(executed(STEM), "conclusion"))


def test_the_formulas_quoted_are_erlang_c_and_cobham(conclusion: str) -> None:
    urgent, bulk = priority_mmc(RATES, 1.0, 4)
    fifo = mmc(sum(RATES.values()), 1.0, 4).wq
    for label, name, theory in (
        ("FIFO", "urgent", fifo),
        ("FIFO", "bulk", fifo),
        ("priority", "urgent", urgent.wq),
        ("priority", "bulk", bulk.wq),
    ):
        formula = "Erlang C" if label == "FIFO" else "Cobham"
        mean, low, high, quoted = numbers(
            rf"{label} {name}: measured ([\d.]+) s \[([\d.]+), ([\d.]+)\], {formula} ([\d.]+) s, "
            r"covered: True",
            conclusion,
        )
        assert quoted == pytest.approx(theory, abs=5e-4)
        assert low <= quoted <= high and low <= mean <= high


def test_priority_helps_urgent_and_costs_bulk(conclusion: str) -> None:
    cut, cost = numbers(
        r"cuts urgent's mean wait ([\d.]+)x and raises bulk's ([\d.]+)x", conclusion
    )
    assert cut > 2 and 1 < cost < 1.5


def test_aging_bounds_the_starved_bulk_wait(conclusion: str) -> None:
    starved, aged, shorter, before, after = numbers(
        r"bulk's longest wait ([\d.]+) s with priority, ([\d.]+) s with aging "
        r"\(([\d.]+)x shorter\); urgent's mean wait ([\d.]+) s -> ([\d.]+) s",
        conclusion,
    )
    assert starved > 5 * aged and shorter == pytest.approx(starved / aged, abs=0.06)
    assert after > before, "aging lets bulk ahead of some urgent jobs: urgent waits longer"


def test_the_plot_labels_what_the_conclusion_reads(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    legends = result(tagged(nb, "plot"))
    assert set(legends["left"]) == {
        "FIFO (measured)",
        "priority (measured)",
        "priority + aging (measured)",
        "Erlang C (FIFO)",
        "Cobham (priority)",
    }
    assert legends["right"][:3] == ["FIFO", "priority", "priority + aging"]
    images = [o for o in tagged(nb, "plot").outputs if "image/png" in o.get("data", {})]
    assert images, "the plot cell shows a figure"
    table = tagged(nb, "means").outputs[-1]["data"]["text/plain"]
    assert re.search(r"priority\s+bulk", table) and "covered" in table


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    rates = {"urgent": 0.8 * 0.3 * 4, "bulk": 0.8 * 0.7 * 4}
    urgent, bulk = priority_mmc(rates, 1.0, 4)
    fifo = mmc(sum(rates.values()), 1.0, 4).wq
    assert_exercise(
        executed(STEM),
        f"Right: about {bulk.wq:.3f} s",
        bulk.wq,
        {fifo: "FIFO wait", urgent.wq: "urgent class", 2 * bulk.wq: "too far off"},
    )
