"""Three views of one workload side by side: theory, virtual-time simulation, real time.

:func:`compare` answers "does the formula, the simulated pool and the pool on the real clock
tell the same story?" in one tidy frame, and says where and why they differ: the theory is
exact for M/M/c and an approximation (Allen–Cunneen) otherwise; the real run pays the
machine's per-job overhead on top of the planned service times.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from jobsim.workload import Constant, Exponential, LogNormal, Poisson, Uniform, Workload

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare"]

_METRICS = ("wait_mean", "wait_p95", "latency_mean", "utilisation")


def _service_moments(service: Any) -> tuple[float, float] | None:
    """(mean, scv) of a service-time distribution, or None if unknown."""
    if isinstance(service, Exponential):
        return service.mean, 1.0
    if isinstance(service, Constant):
        return service.value, 0.0
    if isinstance(service, Uniform):
        mean = (service.low + service.high) / 2
        return mean, ((service.high - service.low) ** 2 / 12) / mean**2 if mean else 0.0
    if isinstance(service, LogNormal):
        return service.mean, math.expm1(service.sigma**2)
    return None


def _theory_row(workload: Workload, workers: int) -> dict[str, Any]:
    from jobsim import theory

    moments = _service_moments(workload.service)
    if not isinstance(workload.arrivals, Poisson) or moments is None:
        return {"view": "theory", "note": "no closed form for these arrivals or service times"}
    mean, scv = moments
    rate = workload.arrivals.rate
    m = theory.mgc(rate, mean, workers, scv)
    if scv == 1.0:
        note = "M/M/c, Erlang C: exact in steady state"
        p95 = theory.wait_quantile(0.95, rate, mean, workers)
    else:
        note = f"M/G/c, Allen–Cunneen approximation (cs² = {scv:.3g}): ~10 % error at ρ >= 0.5"
        p95 = theory.mgc_wait_quantile(0.95, rate, mean, workers, scv)
    return {
        "view": "theory",
        "wait_mean": m.wq,
        "wait_p95": p95,
        "latency_mean": m.w,
        "utilisation": m.utilisation,
        "note": note,
    }


def compare(
    workload: Workload,
    workers: int = 10,
    *,
    real_jobs: int = 200,
    backend: str = "asyncio",
) -> pd.DataFrame:
    """Theory, virtual-time simulation and a short real-clock run of ``workload``, one row each.

    Columns: ``view`` (``theory``, ``virtual``, ``real``), ``wait_mean``, ``wait_p95``,
    ``latency_mean``, ``utilisation``, ``jobs``, ``overhead_ms`` (real run: mean measured
    service minus the planned one, the machine's cost per job) and ``note`` (what the row is
    and how far to trust it). The virtual run uses every job of ``workload``; the real one
    its first ``real_jobs`` jobs (it takes that many jobs' worth of real time: pick service
    times in milliseconds). Both start empty and are single runs: their differences from
    theory include warm-up bias and run-to-run noise (see ``jobsim.replicate``).
    """
    import pandas as pd

    from jobsim.simulate import simulate

    if not isinstance(workload, Workload):
        raise TypeError(f"compare() needs a Workload, got {type(workload).__name__}")
    if isinstance(real_jobs, bool) or not isinstance(real_jobs, int) or real_jobs < 1:
        raise ValueError(f"real_jobs must be an integer >= 1, got {real_jobs!r}")
    rows = [_theory_row(workload, workers)]
    virtual = simulate(workload, workers=workers, capacity=max(workload.jobs, 1))
    short = dataclasses.replace(workload, jobs=min(real_jobs, workload.jobs))
    real = simulate(
        short, workers=workers, capacity=max(short.jobs, 1), clock="real", backend=backend
    )
    planned = short.plan(short.seed).service
    overhead = float(real.jobs["service"].mean() - sum(planned) / max(len(planned), 1))
    for view, result, note in (
        ("virtual", virtual, "the real pool on the virtual clock: one run, started empty"),
        ("real", real, f"the real pool on the real clock ({backend}): one short run"),
    ):
        rows.append(
            {"view": view}
            | {k: result.summary[k] for k in _METRICS}
            | {"jobs": result.summary["jobs"], "note": note}
        )
    rows[-1]["overhead_ms"] = overhead * 1000
    return pd.DataFrame(rows).set_index("view")
