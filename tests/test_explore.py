"""jobsim.explore without a browser: build the panel, move its controls through the widget
API, and check each change re-ran the simulation and redrew the figure."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import jobsim
from jobsim import theory
from jobsim.explorer import Explorer, service_time

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_each_change_reruns_and_redraws_with_the_theory_overlay() -> None:
    explorer = jobsim.explore(workers=4, rate=3.0, jobs=1500, seed=1)
    assert isinstance(explorer, Explorer)
    first, first_figure = explorer.result, explorer.figure
    assert first is not None and first_figure is not None and explorer.updates == 1
    assert explorer.image.value[:8] == PNG_MAGIC
    cdf, queue, _ = first_figure.axes
    # M/M/4 at 75 %: Erlang C's curve and Lq are drawn over the simulation.
    assert any("Erlang C" in t.get_text() for t in cdf.get_legend().get_texts())
    lq = theory.mmc(3.0, 1.0, 4).lq
    assert any(f"Lq = {lq:.3g}" in t.get_text() for t in queue.get_legend().get_texts())

    explorer.controls["workers"].value = 6  # as a slider drag would
    assert explorer.updates == 2
    assert explorer.result is not first and explorer.figure is not first_figure
    assert explorer.result.summary["workers"] == 6
    assert explorer.result.summary["wait_p95"] < first.summary["wait_p95"]
    assert explorer.image.value[:8] == PNG_MAGIC
    assert math.isfinite(explorer.last_update_s) and explorer.last_update_s > 0
    assert "6 workers" in explorer.figure.texts[0].get_text()


def test_spread_and_capacity_change_the_run_and_the_words() -> None:
    explorer = jobsim.explore(workers=2, rate=1.5, jobs=800, seed=2)
    explorer.controls["service"].value = "lognormal"
    assert not explorer.controls["spread"].disabled  # the spread means something now
    low = explorer.result.jobs["service"].std()
    explorer.controls["spread"].value = 2.5
    assert explorer.result.jobs["service"].std() > 1.5 * low
    # No Erlang C for log-normal service: only the offered load is drawn.
    cdf = explorer.figure.axes[0]
    assert not any("Erlang C" in t.get_text() for t in cdf.get_legend().get_texts())
    explorer.controls["service"].value = "exponential"
    assert explorer.controls["spread"].disabled
    # Overload with a small channel: the status says the arrivals were held back.
    explorer.controls["rate"].value = 4.0
    explorer.controls["capacity"].value = 10
    assert "held arrivals back" in explorer.status.value
    assert "overloaded" in explorer.status.value
    assert explorer.updates == 6


def test_service_spread_is_the_coefficient_of_variation() -> None:
    rng = np.random.default_rng(0)
    for kind, cv in (("lognormal", 1.5), ("uniform", 0.4), ("exponential", 1.0)):
        draws = service_time(kind, 2.0, cv).sample(200_000, rng)
        assert draws.mean() == pytest.approx(2.0, rel=0.03)
        assert draws.std() / draws.mean() == pytest.approx(cv, rel=0.05)


def test_bad_starting_values_name_themselves() -> None:
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        jobsim.explore(workers=0)
    with pytest.raises(ValueError, match="service must be one of exponential"):
        jobsim.explore(service="gamma")
    with pytest.raises(ValueError, match="rate must be a number > 0"):
        jobsim.explore(rate=-1)
