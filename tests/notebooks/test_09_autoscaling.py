"""What notebook 09-autoscaling-a-daily-load concludes, checked on its executed run.

Every run is virtual time, so the numbers are exact for the seed; the checks hold each
conclusion to the numbers printed beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lesson import numbers, printed, tagged

STEM = "09-autoscaling-a-daily-load"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _policies(nb: Any) -> dict[str, tuple[float, float, float]]:
    text = printed(tagged(nb, "policies"))
    found = {}
    for name in ("fixed", "schedule", "autoscaler"):
        cost, p95, utilisation = numbers(
            rf"{name}: (\d+) worker-seconds p95 latency ([\d.]+) s utilisation ([\d.]+)",
            text.replace(",", ""),
        )
        found[name] = (cost, p95, utilisation)
    return found


def test_a_pool_sized_for_the_peak_is_fastest_and_dearest(executed: Callable[[str], Any]) -> None:
    found = _policies(executed(STEM))
    fixed, schedule, auto = found["fixed"], found["schedule"], found["autoscaler"]
    assert fixed[0] > auto[0] and fixed[0] > schedule[0]  # the most worker-seconds
    assert fixed[1] <= auto[1] and fixed[1] <= schedule[1]  # the lowest p95
    assert fixed[2] < auto[2] and fixed[2] < schedule[2]  # the most idle capacity


def test_the_conclusion_states_the_measured_saving(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    found = _policies(nb)
    text = printed(tagged(nb, "conclusion"))
    saving, auto_p95, fixed_p95 = numbers(
        r"costs (\d+)% less .* p95 latency of ([\d.]+) s instead of ([\d.]+) s", text
    )
    assert saving == pytest.approx(100 * (1 - found["autoscaler"][0] / found["fixed"][0]), abs=1)
    assert (auto_p95, fixed_p95) == (found["autoscaler"][1], found["fixed"][1])


def test_no_cooldown_oscillates(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    without, with_cooldown = numbers(
        r"without cool-down: (\d+), with a 300 s cool-down: (\d+)",
        printed(tagged(nb, "oscillation")),
    )
    assert without > 5 * with_cooldown
    (ratio,) = numbers(r"resized (\d+\.\d+)x as often", printed(tagged(nb, "conclusion")))
    assert ratio == pytest.approx(without / with_cooldown, abs=0.05)


def test_startup_lag_costs_latency_in_the_spike(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    instant, slow = numbers(
        r"startup 0 s: ([\d.]+) s, startup 120 s: ([\d.]+) s", printed(tagged(nb, "spike"))
    )
    assert slow > instant
    (factor,) = numbers(
        r"multiplied the worst p95 in the spike by (\d+\.\d+)", printed(tagged(nb, "conclusion"))
    )
    assert factor == pytest.approx(slow / instant, abs=0.06)
