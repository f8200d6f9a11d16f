"""The "stores" benchmark suite runs end to end on a tiny size (figures are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import stores as bench


def test_stores_suite_rows_ratios_notes_and_plot(postgres_url: str, tmp_path: Path) -> None:
    frame = bench.run(repeat=1, workers=[1, 4], jobs=40, postgres_url=postgres_url)
    assert set(frame["store"]) == {"memory", "sqlite", "postgresql"}
    assert len(frame) == 3 * 2 * 2  # stores x claimer counts x (jobsim, raw)
    for _, pair in frame.groupby(["store", "workers", "repeat"]):
        jobsim = pair[pair["variant"] == "jobsim"].iloc[0]
        raw = pair[pair["variant"] == "raw"].iloc[0]
        assert jobsim["ratio"] == pytest.approx(raw["makespan_s"] / jobsim["makespan_s"])
        assert raw["ratio"] == 1.0
        assert jobsim["throughput_jobs_s"] == pytest.approx(jobsim["jobs"] / jobsim["makespan_s"])
    lines = bench.notes(frame)
    assert any(line.startswith("postgresql") and "target" in line for line in lines)
    (png,) = bench.plot(frame, tmp_path)
    assert png.name == "stores_claims.png" and png.stat().st_size > 0


def test_stores_suite_refuses_virtual_time_and_unknown_stores() -> None:
    with pytest.raises(ValueError, match="real time only"):
        bench.run(clock="virtual")
    with pytest.raises(ValueError, match="unknown store"):
        bench.run(stores=["redis"])
