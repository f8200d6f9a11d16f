"""What notebook 03-shutdown-ordering concludes, checked on its executed run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

STEM = "03-shutdown-ordering"
WRONG = ["close-channel-first", "cancel-workers-first", "no-wait"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_correct_order_drains_the_queue_and_loses_nothing(
    executed: Callable[[str], Any],
) -> None:
    text = printed(tagged(executed(STEM), "correct"))
    (queued,) = numbers(r"closes the channel \((\d+) job ids? queued\)", text)
    completed, accepted, lost = numbers(r"(\d+) of (\d+) accepted jobs completed, (\d+) lost", text)
    assert queued >= 1, "the lesson says the channel closes with ids still in it"
    assert completed == accepted > 0 and lost == 0, text


def test_the_legend_names_its_bars_and_only_the_wrong_orders_lose_jobs(
    executed: Callable[[str], Any],
) -> None:
    shown = result(tagged(executed(STEM), "legend-check"))
    assert list(shown) == ["correct", *WRONG], shown
    assert shown["correct"] == [0.0] * 10, shown
    for order in WRONG:
        assert len(shown[order]) == 10 and min(shown[order]) > 0, (order, shown[order])


def test_the_printed_counts_and_the_conclusion_agree_with_the_figure(
    executed: Callable[[str], Any],
) -> None:
    nb = executed(STEM)
    shown = result(tagged(nb, "legend-check"))
    seeds = printed(tagged(nb, "seeds"))
    assert numbers(r"correct order: (\d+) jobs lost in the worst of (\d+) seeds", seeds) == [
        0.0,
        10.0,
    ]
    for order in WRONG:
        low, high = numbers(rf"{order}: (\d+) to (\d+) jobs lost per seed", seeds)
        assert (low, high) == (min(shown[order]), max(shown[order])), seeds
    assert numbers(r"ClosedResourceError in (\d+) of (\d+) seeds", seeds) == [10.0, 10.0]
    conclusion = printed(tagged(nb, "conclusion"))
    assert "The correct order lost 0 jobs over 10 seeds" in conclusion, conclusion
    assert "3 of the 3 wrong orders lost jobs in every seed" in conclusion, conclusion


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    assert_exercise(executed(STEM), "Right: 0.", 0, {12: "is the producer still sending"})
