"""priority_mmc: Cobham's per-class waits for non-preemptive priority M/M/c."""

from __future__ import annotations

import pytest

from jobsim.theory import mmc, priority_mmc


def test_two_classes_on_one_server_match_the_hand_computation() -> None:
    # M/M/1, λ1 = λ2 = 0.4, μ = 1: W0 = ρ·E[S] = 0.8; Wq1 = 0.8 / 0.6, Wq2 = 0.8 / (0.6·0.2).
    urgent, bulk = priority_mmc({"urgent": 0.4, "bulk": 0.4}, mean_service=1.0, servers=1)
    assert (urgent.name, urgent.rank, bulk.name, bulk.rank) == ("urgent", 0, "bulk", 1)
    assert urgent.wq == pytest.approx(0.8 / 0.6)
    assert bulk.wq == pytest.approx(0.8 / (0.6 * 0.2))
    assert bulk.w == pytest.approx(bulk.wq + 1.0) and bulk.lq == pytest.approx(0.4 * bulk.wq)
    assert (urgent.utilisation, bulk.utilisation) == (pytest.approx(0.4), pytest.approx(0.4))


def test_one_class_is_erlang_c() -> None:
    (only,) = priority_mmc([8.0], mean_service=1.0, servers=10)
    assert only.name == 0 and only.wq == pytest.approx(mmc(8.0, 1.0, 10).wq)


@pytest.mark.parametrize(
    ("rates", "servers"), [([1.0, 2.0, 3.0], 8), ([5.0, 0.5], 6), ([0.1, 0.1, 0.1, 0.1], 1)]
)
def test_the_rate_weighted_mean_wait_is_the_fifo_wait(rates: list[float], servers: int) -> None:
    classes = priority_mmc(rates, mean_service=0.7, servers=servers)
    mean = sum(c.arrival_rate * c.wq for c in classes) / sum(rates)
    assert mean == pytest.approx(mmc(sum(rates), 0.7, servers).wq)
    waits = [c.wq for c in classes]
    assert waits == sorted(waits)  # lower priority never waits less


def test_bad_input_names_the_value_and_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"rates\['bulk'\] must be a finite number >= 0, got -1"):
        priority_mmc({"urgent": 1.0, "bulk": -1}, 1.0, 2)
    with pytest.raises(ValueError, match=r"unstable queue.*allowed: utilisation < 1"):
        priority_mmc([1.0, 1.5], 1.0, 2)
    with pytest.raises(ValueError, match="at least one class"):
        priority_mmc([], 1.0, 2)
    with pytest.raises(ValueError, match="servers must be an integer >= 1, got 0"):
        priority_mmc([0.5], 1.0, 0)
