"""``jobsim.explore()``: move a slider, watch the queue. An ipywidgets panel for notebooks.

Sliders and dropdowns set the workers, the Poisson arrival rate, the service-time
distribution (its mean and spread) and the channel's capacity. Every change re-runs the
virtual-time simulation (the same pool, or its exact recursion when it applies: a few
milliseconds for thousands of jobs) and redraws three panels: the latency CDF, the queue
length over time and the workers' utilisation, with Erlang C's M/M/c figures drawn over them
where that theory applies (exponential service, an open system, load below 1).

The panel is an ordinary ipywidgets tree, so it also works without a browser: set
``explorer.controls["workers"].value = 6`` and ``explorer.result`` and ``explorer.figure``
are the new run's. Needs the ``notebooks`` extra (``pip install 'jobsim[notebooks]'``).
"""

from __future__ import annotations

import io
import math
import time
import warnings
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from jobsim import plot, theory
from jobsim.records import BackpressureWarning, RunResult
from jobsim.simulate import simulate
from jobsim.workload import Constant, Exponential, LogNormal, Poisson, Uniform, Workload

__all__ = ["SERVICES", "Explorer", "explore"]

#: Service-time distributions the dropdown offers. ``spread`` is the coefficient of
#: variation (standard deviation / mean) where the distribution has one to choose.
SERVICES = ("exponential", "constant", "uniform", "lognormal")
_FIXED_SPREAD = {"exponential": 1.0, "constant": 0.0}
_UNIFORM_MAX_CV = 1 / math.sqrt(3)  # wider would need negative service times


def service_time(kind: str, mean: float, spread: float) -> Any:
    """The service-time distribution ``kind`` with ``mean`` seconds and coefficient of
    variation ``spread`` (ignored by exponential, 1, and constant, 0; capped for uniform)."""
    if kind == "exponential":
        return Exponential(mean)
    if kind == "constant":
        return Constant(mean)
    if kind == "uniform":
        half = mean * math.sqrt(3) * min(spread, _UNIFORM_MAX_CV)
        return Uniform(mean - half, mean + half)
    if kind == "lognormal":
        return LogNormal(mean, math.sqrt(math.log1p(spread**2)))
    raise ValueError(f"service must be one of {', '.join(SERVICES)}; got {kind!r}")


def _mmc_latency_cdf(t: np.ndarray, rate: float, mean: float, c: int) -> np.ndarray:
    """P(latency <= t) in M/M/c (FIFO): latency = wait + service, the wait 0 with
    probability 1 - C and exponential at rate cμ - λ otherwise (Erlang C)."""
    mu, p_wait = 1 / mean, theory.mmc(rate, mean, c).p_wait
    theta = c * mu - rate
    if math.isclose(theta, mu):
        both = (1 + mu * t) * np.exp(-mu * t)
    else:
        both = (theta * np.exp(-mu * t) - mu * np.exp(-theta * t)) / (theta - mu)
    return 1 - ((1 - p_wait) * np.exp(-mu * t) + p_wait * both)


class Explorer:
    """The panel behind :func:`explore`: ``widget`` to display, ``controls`` by name,
    ``result`` and ``figure`` of the latest run, ``updates`` runs so far, ``last_update_s``
    the wall time of the latest (simulation and drawing).

    Args:
        workers, rate, service, mean, spread, capacity: the controls' starting values:
            worker count, arrivals per second, the service-time distribution, its mean (s)
            and coefficient of variation, the channel's slots (None: ``jobs``).
        jobs, seed: every run's size and seed.
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        rate: float = 3.0,
        service: str = "exponential",
        mean: float = 1.0,
        spread: float = 1.0,
        capacity: int | None = None,
        jobs: int = 2000,
        seed: int = 0,
    ) -> None:
        try:
            import ipywidgets as w
        except ImportError as exc:  # pragma: no cover - the notebooks extra brings it
            raise ImportError(
                "jobsim.explore needs ipywidgets: pip install 'jobsim[notebooks]'"
            ) from exc
        for name, value in (("workers", workers), ("jobs", jobs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name, number in (("rate", rate), ("mean", mean)):
            if not (isinstance(number, int | float) and 0 < number < math.inf):
                raise ValueError(f"{name} must be a number > 0, got {number!r}")
        if not (isinstance(spread, int | float) and 0 <= spread < math.inf):
            raise ValueError(f"spread must be a coefficient of variation >= 0, got {spread!r}")
        service_time(service, 1.0, 0.0)  # names the allowed kinds when it is not one
        if capacity is not None and (not isinstance(capacity, int) or capacity < 1):
            raise ValueError(f"capacity must be an integer >= 1 or None (= jobs), got {capacity!r}")
        self.jobs, self.seed = jobs, seed
        wide = {"style": {"description_width": "initial"}, "continuous_update": False}
        self.controls: dict[str, Any] = {
            "workers": w.IntSlider(workers, 1, max(32, workers), description="workers", **wide),
            "rate": w.FloatSlider(
                float(rate),
                min=0.1,
                max=max(20.0, rate),
                step=0.1,
                description="arrivals/s",
                **wide,
            ),
            "service": w.Dropdown(options=SERVICES, value=service, description="service"),
            "mean": w.FloatSlider(
                float(mean), min=0.05, max=max(5.0, mean), step=0.05, description="mean (s)", **wide
            ),
            "spread": w.FloatSlider(
                float(spread), min=0.0, max=3.0, step=0.05, description="spread (CV)", **wide
            ),
            "capacity": w.IntSlider(capacity or jobs, 1, jobs, description="capacity", **wide),
        }
        self.status = w.HTML()
        self.image = w.Image(format="png")
        names = list(self.controls)
        self.widget = w.VBox(
            [
                w.HBox(
                    [
                        w.VBox([self.controls[n] for n in names[:3]]),
                        w.VBox([self.controls[n] for n in names[3:]]),
                    ]
                ),
                self.status,
                self.image,
            ]
        )
        self.result: RunResult | None = None
        self.figure: Figure | None = None
        self.updates = 0
        self.last_update_s = math.nan
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.update()

    def _changed(self, change: dict[str, Any]) -> None:
        self.update()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> RunResult:
        """Re-run the simulation with the controls' values and redraw; returns the run."""
        started = time.perf_counter()
        v = self.values
        fixed = v["service"] in _FIXED_SPREAD
        self.controls["spread"].disabled = fixed
        spread = _FIXED_SPREAD.get(v["service"], v["spread"])
        workload = Workload(
            self.jobs,
            Poisson(v["rate"]),
            service_time(v["service"], v["mean"], spread),
            seed=self.seed,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BackpressureWarning)
            result = simulate(workload, workers=v["workers"], capacity=v["capacity"])
        blocked = any(issubclass(c.category, BackpressureWarning) for c in caught)
        figure = self.draw(result, v, blocked=blocked)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=72)
        self.image.value = buffer.getvalue()
        self.result, self.figure = result, figure
        self.updates += 1
        self.last_update_s = time.perf_counter() - started
        self.status.value = self._status(result, v, blocked)
        return result

    def _theory(self, v: dict[str, Any]) -> theory.QueueMetrics | None:
        """Erlang C's figures when M/M/c describes the run: exponential service, nothing held
        back by the channel, load below one."""
        load = v["rate"] * v["mean"] / v["workers"]
        if v["service"] != "exponential" or v["capacity"] < self.jobs or load >= 1:
            return None
        return theory.mmc(v["rate"], v["mean"], v["workers"])

    def draw(self, result: RunResult, v: dict[str, Any], *, blocked: bool = False) -> Figure:
        """The three panels for ``result`` run with values ``v``."""
        # A fresh Figure outside pyplot (nothing to close, no window), laid out by hand:
        # constrained layout would cost more than the simulation.
        fig = Figure(figsize=(15, 4.2))
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.13, top=0.84, wspace=0.25)
        cdf, queue, busy = fig.subplots(1, 3)
        plot.latency_cdf(result.jobs, ax=cdf, label="simulated")
        plot.queue_depth(result.queue_depth, ax=queue, label="simulated")
        _utilisation(result, busy)
        mmc = self._theory(v)
        load = v["rate"] * v["mean"] / v["workers"]
        if mmc is not None:
            x = np.linspace(0, float(np.nanmax(result.jobs["latency"])), 200)
            cdf.plot(
                x,
                _mmc_latency_cdf(x, v["rate"], v["mean"], v["workers"]),
                "k--",
                label=f"M/M/{v['workers']} (Erlang C)",
            )
            queue.axhline(mmc.lq, color="k", ls="--", label=f"Erlang C Lq = {mmc.lq:.3g}")
            cdf.legend(loc="lower right", fontsize="small")
            queue.legend(fontsize="small")
        if load < 1 and not blocked:
            busy.axhline(load, color="k", ls="--", label=f"offered load ρ = {load:.2f}")
            busy.legend(loc="lower right", fontsize="small")
        fig.suptitle(
            f"{v['workers']} workers, Poisson {v['rate']:g}/s, {v['service']} service "
            f"mean {v['mean']:g} s, capacity {v['capacity']}: ρ = {load:.2f}"
        )
        return fig

    def _status(self, result: RunResult, v: dict[str, Any], blocked: bool) -> str:
        s = result.summary
        load = v["rate"] * v["mean"] / v["workers"]
        parts = [
            f"load ρ = {load:.2f}"
            + (" (overloaded: the queue grows without bound)" if load >= 1 else ""),
            f"wait p95 {s['wait_p95']:.3g} s",
            f"latency p99 {s['latency_p99']:.3g} s",
            f"utilisation {s['utilisation']:.2f}",
        ]
        if blocked:
            parts.append(
                f"<b>capacity {v['capacity']} held arrivals back</b>: waits are a throttled "
                f"system's (capacity {self.jobs} models the open one)"
            )
        parts.append(f"update {self.last_update_s * 1000:.0f} ms")
        return " · ".join(parts)


def _utilisation(result: RunResult, ax: Any) -> None:
    """Busy workers over time as a fraction, and its running average."""
    jobs = result.jobs.dropna(subset=["started", "finished"])
    workers = int(result.summary["workers"])
    times = np.concatenate([jobs["started"].to_numpy(float), jobs["finished"].to_numpy(float)])
    steps = np.concatenate([np.ones(len(jobs)), -np.ones(len(jobs))])
    order = np.lexsort((steps, times))  # at a tie, an end before a start
    times, busy = times[order], np.cumsum(steps[order]) / workers
    ax.step(times, busy, where="post", alpha=0.35, label="busy now")
    area = np.concatenate([[0.0], np.cumsum(busy[:-1] * np.diff(times))])
    with np.errstate(invalid="ignore", divide="ignore"):
        ax.plot(times[1:], area[1:] / times[1:], label="average so far")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("busy workers (fraction)")
    ax.set_title("Utilisation over time")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def explore(**options: Any) -> Explorer:
    """An interactive panel (ipywidgets) for a Poisson workload on a worker pool.

    ``options`` are the controls' starting values and the run's size, see :class:`Explorer`:
    ``workers``, ``rate`` (arrivals/s), ``service`` (one of :data:`SERVICES`), ``mean`` (s),
    ``spread`` (coefficient of variation), ``capacity`` (None: ``jobs``, an open system),
    ``jobs`` (a few thousand keep an update well under a second) and ``seed`` (the same for
    every update, so only your change moves). Show it as a notebook cell's last expression;
    every change of a control re-runs and redraws.
    """
    return Explorer(**options)
