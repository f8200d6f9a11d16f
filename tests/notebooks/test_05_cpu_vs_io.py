"""What notebook 05-cpu-vs-io concludes, checked on its executed run.

The speedups are real-clock ratios on a machine other programs share. Load only slows a run
down, so each speedup is the ratio of the fastest of 5 interleaved runs on 1 worker to the
fastest on 2, and it lies within the range of the rounds' own ratios. The checks hold the
conclusion to the lesson's own rule (a best ratio of at least 1.3 is a real gain) and to the
facts that load cannot change (inline jobs never overlap), never to a wall-clock figure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from lesson import assert_exercise, numbers, printed, result, tagged

STEM = "05-cpu-vs-io"
KINDS = ["io (sleep)", "inline", "thread", "process"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_lesson_speaks_of_this_machine(executed: Callable[[str], Any]) -> None:
    nb = executed(STEM)
    (cores,) = numbers(r"^(\d+) CPU cores", printed(tagged(nb, "machine")))
    assert cores == os.cpu_count()
    sources = "\n".join(c.source for c in nb.cells)
    assert "2 cores" not in sources and "2-core" not in sources


def test_the_panels_say_what_each_kind_does(executed: Callable[[str], Any]) -> None:
    panels = result(tagged(executed(STEM), "timelines"))
    titles = {title.split(":")[0]: (title, n) for title, n in panels.items()}
    assert list(titles) == KINDS, panels
    io_title, io_at_once = titles["io (sleep)"]
    assert "sleeping" in io_title and "CPU" not in io_title, io_title
    assert io_at_once == "2 at once", "two sleeping jobs overlap"
    assert titles["inline"][1] == "1 at once", "inline handlers block the loop: never two"


def test_each_verdict_follows_from_its_numbers(executed: Callable[[str], Any]) -> None:
    text = printed(tagged(executed(STEM), "conclusion"))
    verdicts = {}
    for kind in KINDS:
        line = re.search(
            rf"{re.escape(kind)}: 2 workers (\d+\.\d+)x as fast as 1 "
            r"\(rounds (\d+\.\d+)-(\d+\.\d+)\): (gains|no real gain)",
            text,
        )
        assert line, f"no verdict for {kind} in:\n{text}"
        best, low, high = map(float, line.groups()[:3])
        assert low <= best <= high, line.group(0)  # min(ones) / min(twos) lies in between
        verdicts[kind] = (best, line.group(4))
        assert line.group(4) == ("gains" if best >= 1.3 else "no real gain"), line.group(0)
    assert verdicts["io (sleep)"][1] == "gains", "sleeping jobs overlap on any machine"
    gaining = [k for k in ("inline", "thread", "process") if verdicts[k][1] == "gains"]
    if gaining:
        best = max(gaining, key=lambda k: verdicts[k][0])
        assert f"only {', '.join(gaining)} gained; best: {best}." in text, text
    else:
        assert "no kind gained from a second worker on this run" in text, text
    caveat = "Caveat: processes did not gain on this run"
    assert (caveat in text) == (verdicts["process"][1] != "gains"), text
    assert "Inline jobs running at once, at most: 1" in text


def test_the_exercise_asks_and_its_solution_passes_the_check(
    executed: Callable[[str], Any],
) -> None:
    assert_exercise(
        executed(STEM),
        "Right: about 0.6 s.",
        0.6,
        {0.2: "compute side by side", 3.0: "too far off"},
    )
