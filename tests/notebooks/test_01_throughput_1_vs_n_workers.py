"""What notebook 01-throughput-1-vs-n-workers concludes, checked on its executed run."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

STEM = "01-throughput-1-vs-n-workers"
COUNTS = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_virtual_time_gives_the_go_services_table(executed: Callable[[str], Any]) -> None:
    text = printed(tagged(executed(STEM), "virtual-table"))
    one, ten, speedup = numbers(
        r"1 worker (\d+\.\d) s, 10 workers (\d+\.\d) s, speedup (\d+\.\d+)x", text
    )
    assert (one, ten, speedup) == (100.0, 10.0, 10.0), text


def test_each_legend_entry_labels_its_own_line(executed: Callable[[str], Any]) -> None:
    shown = result(tagged(executed(STEM), "legend-check"))
    rounds = next(v for k, v in shown.items() if k.startswith("rounds"))
    ideal = next(v for k, v in shown.items() if k.startswith("ideal"))
    simulated = next(v for k, v in shown.items() if k.startswith("simulated"))
    assert rounds == [float(math.ceil(100 / w)) for w in COUNTS], shown
    assert ideal == pytest.approx([100 / w for w in COUNTS]), shown
    assert simulated == rounds, "the pool's makespan is ceil(jobs / workers) rounds of 1 s"


def test_the_real_clock_and_the_conclusion_print_the_same_numbers(
    executed: Callable[[str], Any],
) -> None:
    nb = executed(STEM)
    real = printed(tagged(nb, "real-clock"))
    (ten,) = numbers(r"10 workers: (\d+\.\d)x as fast as 1 worker", real)
    (fifty,) = numbers(r"50 workers: (\d+\.\d)x \(ideal 50x\)", real)
    share_one, share_fifty = numbers(
        r"\((\d+)% of its 1 s\), [\d.]+ ms on 50 workers \((\d+)% of its 20 ms\)", real
    )
    # Ratios on one run of 10 ms sleeps: 10 workers beat 1 by far, even on a busy machine.
    assert ten > 2.0 and fifty > 1.0, real
    conclusion = printed(tagged(nb, "conclusion"))
    assert numbers(r"take (\d+) s on 1 worker and (\d+) s on 10 \((\d+\.\d)x\)", conclusion) == [
        100.0,
        10.0,
        10.0,
    ]
    assert numbers(r"(\d+\.\d)x on 10 workers, (\d+\.\d)x on 50", conclusion) == [ten, fifty]
    word = "more" if share_fifty > share_one else "less"
    assert f"weighs {word} on the 20 ms run ({share_fifty:.0f}%)" in conclusion, conclusion
    assert "stays at 1 s: one round" in conclusion


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    assert_exercise(
        executed(STEM),
        "Right: 9 workers take 12 s",
        9,
        {8: "13 s: too slow", 10: "a smaller pool will do"},
    )
