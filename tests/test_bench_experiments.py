"""The experiments benchmark suite: serial, processes and Dask give one study's same frame."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")


def test_experiments_suite_rows_speedups_and_identical_frames() -> None:
    from benchmarks import experiments

    frame = experiments.run(quick=True, jobs=300, repeat=1, progress=False)
    assert list(frame["executor"]) == ["serial", "processes", "dask"]
    assert (frame["runs"] == experiments.QUICK_RUNS).all() and (frame["jobs"] == 300).all()
    assert frame["identical"].all()
    assert (frame["load"] >= 0).all()  # the machine's load when each study started
    serial = frame[frame["executor"] == "serial"].iloc[0]
    assert serial["speedup"] == 1.0
    assert (frame["speedup"] == serial["wall_s"] / frame["wall_s"]).all()
    notes = experiments.notes(frame)
    assert any(line.startswith("processes:") and "target >= 1.7x" in line for line in notes)
    with pytest.raises(ValueError, match="clock must be 'virtual'"):
        experiments.run(clock="real")
