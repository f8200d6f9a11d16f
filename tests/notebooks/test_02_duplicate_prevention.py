"""What notebook 02-duplicate-prevention concludes, checked on its executed run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

STEM = "02-duplicate-prevention"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_legend_names_the_line_it_labels(executed: Callable[[str], Any]) -> None:
    # Read back from the figure: each legend entry with the values of the line it labels.
    shown = result(tagged(executed(STEM), "legend-check"))
    racy = next(v for k, v in shown.items() if k.startswith("RacyStore"))
    atomic = next(v for k, v in shown.items() if k.startswith("InMemoryJobStore"))
    assert atomic == [1.0, 1.0, 1.0, 1.0], f"the atomic store runs each job once: {shown}"
    assert racy[0] == 1.0 and all(r > 1.0 for r in racy[1:]), shown
    assert racy == sorted(racy), f"more deliveries, more runs per job: {shown}"


def test_one_rule_for_the_duplicate_in_picture_events_and_counts(
    executed: Callable[[str], Any],
) -> None:
    text = printed(tagged(executed(STEM), "timeline"))
    picture, events, counted = numbers(
        r"(\d+) bars marked duplicate in the picture, (\d+) starts marked AGAIN in the "
        r"events, (\d+) extra runs counted",
        text,
    )
    assert picture == events == counted > 0, text


def test_the_race_is_also_shown_in_motion(executed: Callable[[str], Any]) -> None:
    cell = tagged(executed(STEM), "animation")
    text = printed(cell)
    (at,) = numbers(r"first duplicate: worker-\d+ starts job-\d+ at t = (\d+\.\d+) s", text)
    assert at >= 0.0 and "while worker-" in text, text
    html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
    assert "<img" in html and "anim" in html.lower(), "the animation plays inline (jshtml)"


def test_the_conclusion_is_computed_and_says_what_the_runs_showed(
    executed: Callable[[str], Any],
) -> None:
    text = printed(tagged(executed(STEM), "conclusion"))
    ran, jobs, duplicates, atomic = numbers(
        r"RacyStore: (\d+) of (\d+) jobs ran more than once \((\d+) duplicate runs\); "
        r"InMemoryJobStore: (\d+)\.",
        text,
    )
    assert 0 < ran <= jobs == 20 and duplicates >= ran and atomic == 0, text
    racy4, atomic4 = numbers(
        r"4 deliveries: RacyStore (\d+\.\d+), InMemoryJobStore (\d+\.\d+)", text
    )
    assert racy4 > 2.0 and atomic4 == 1.0, text
    seeds, low, high, worst_atomic = numbers(
        r"ran duplicates in (\d+) of them \((\d+) to (\d+) per seed\); "
        r"the atomic claim had at most (\d+)",
        text,
    )
    assert seeds == 10 and 0 < low <= high and worst_atomic == 0, text


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    assert_exercise(executed(STEM), "Right: 0.", 0, {17: "With one worker, who else could claim"})
