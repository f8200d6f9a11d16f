"""jobsim.plot.animate: a run as a matplotlib animation, inline (jshtml) and as a GIF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from PIL import Image

from jobsim import Exponential, Poisson, Workload, demos, plot, simulate


def test_the_duplicate_race_as_a_gif(tmp_path: Path) -> None:
    race = demos.duplicate_race("racy", workers=4, jobs=6, seed=0)
    assert race.duplicates > 0  # something to see: a job starting on a second worker
    anim = plot.animate(race, frames=6, title="RacyStore")
    path = tmp_path / "race.gif"
    anim.save(path)  # Pillow, no ffmpeg
    assert path.stat().st_size > 0
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6


def test_frames_show_the_channel_and_the_workers_current_jobs() -> None:
    result = simulate(Workload(30, Poisson(6.0), Exponential(1.0), seed=3), workers=2, capacity=30)
    anim = plot.animate(result, frames=5)
    strip, gantt = anim._fig.axes
    anim._func(2)  # the middle frame, drawn as the movie would
    waiting = int(strip.get_title(loc="left").split()[1])
    t = 0.5 * result.jobs["finished"].max()
    jobs = result.jobs
    busy = int(((jobs["started"] <= t) & (jobs["finished"] > t)).sum())
    assert f"{busy} of 2 workers busy" in gantt.get_title(loc="left")
    queued = int(((jobs["submitted"] <= t) & (jobs["started"] > t)).sum())
    assert waiting == queued
    html = anim.to_jshtml()
    assert "<img" in html or "animation" in html.lower()
    assert anim._repr_html_().startswith("\n<link") or "<script" in anim._repr_html_()


def test_animate_refuses_what_it_cannot_play() -> None:
    with pytest.raises(TypeError, match="animate\\(\\) plays a RunResult"):
        plot.animate("run.csv")
    result = simulate(Workload(4), workers=2)
    with pytest.raises(ValueError, match="frames must be an integer >= 2"):
        plot.animate(result, frames=1)
