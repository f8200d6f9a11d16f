"""Prometheus metrics of the job service: job latency from the pool's tracer, rejections,
and the pool's gauges read at scrape time."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobsim.domain import JobStatus
from jobsim.events import TraceEvent
from jobsim.pool import WorkerPool

__all__ = ["Instruments", "PoolCollector", "Throughput"]


class Throughput:
    """Jobs finished per second of wall-clock time, over the last ``window`` seconds.

    :meth:`record` is called for every finished job (by the pool's tracer), so it only bumps
    the count of the current second; :meth:`rates` does the arithmetic when the page asks.
    """

    def __init__(self, window: int = 300) -> None:
        self.window = window
        self._seconds: deque[list[int]] = deque()  # [second, jobs finished in it], oldest first

    def record(self, at: float) -> None:
        second = int(at)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
            return
        seconds.append([second, 1])
        while seconds[0][0] <= second - self.window:
            seconds.popleft()

    def rates(self, now: float, bins: int = 30) -> list[float]:
        """Jobs per second in each of ``bins`` equal bins of the window, oldest first."""
        width = self.window / bins
        start = int(now) - self.window + 1
        totals = [0] * bins
        for second, n in self._seconds:
            if second >= start:
                totals[min(int((second - start) / width), bins - 1)] += n
        return [total / width for total in totals]


_JOB_ENDS = frozenset(
    {TraceEvent.COMPLETED, TraceEvent.FAILED, TraceEvent.CANCELLED, TraceEvent.RELEASED}
)
_TIMED_ENDS = frozenset({TraceEvent.COMPLETED, TraceEvent.FAILED})


class Instruments:
    """Per-app Prometheus metrics, fed by the pool's tracer.

    Pass :meth:`trace` as ``WorkerPool(tracer=...)`` and the same object to
    :func:`~jobsim.http.app.create_app`: it then times every job (queued -> finished), counts
    finished jobs per second for the dashboard, and wakes POSTs waiting for room the moment a
    worker takes a job off the channel.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "jobsim_job_latency_seconds",
            "Seconds from queued to finished (completed or failed), wait included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.rejected = Counter(
            "jobsim_http_rejected",
            "POST /jobs answered 503, by reason (full: no room in time; closing: shutdown; "
            "store: the store is unreachable).",
            ["reason"],
            registry=self.registry,
        )
        self.throughput = Throughput()
        self._queued: dict[str, float] = {}
        self._on_taken: Callable[[], None] | None = None

    def trace(self, event: TraceEvent, time: float, job_id: str, worker_id: str | None) -> None:
        """A :data:`jobsim.events.Tracer`."""
        if event is TraceEvent.QUEUED:
            self._queued[job_id] = time
        elif event is TraceEvent.TAKEN:
            if self._on_taken is not None:
                self._on_taken()
        elif event in _JOB_ENDS:
            queued = self._queued.pop(job_id, None)
            if event in _TIMED_ENDS:
                self.throughput.record(time)
                if queued is not None:
                    self.latency.observe(max(0.0, time - queued))


class PoolCollector(Collector):
    """Reads the pool's gauges at scrape time (and the store's counts fetched just before)."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.counts: dict[JobStatus, int] = dict.fromkeys(JobStatus, 0)

    def collect(self) -> Iterable[Metric]:
        pool = self.pool
        jobs = GaugeMetricFamily("jobsim_jobs", "Jobs in the store by status.", labels=["status"])
        for status, n in self.counts.items():
            jobs.add_metric([status.value], n)
        yield jobs
        yield GaugeMetricFamily(
            "jobsim_queue_depth", "Job ids waiting in the channel.", value=pool.queue_depth
        )
        yield GaugeMetricFamily(
            "jobsim_queue_capacity", "Slots in the channel.", value=pool.capacity
        )
        yield GaugeMetricFamily(
            "jobsim_workers", "Workers the pool aims for (its size).", value=pool.workers
        )
        yield GaugeMetricFamily(
            "jobsim_workers_live", "Worker tasks running now.", value=pool.live_workers
        )
        yield GaugeMetricFamily("jobsim_workers_busy", "Workers running a job.", value=pool.busy)
        processed = CounterMetricFamily(
            "jobsim_worker_processed", "Jobs each worker has finished.", labels=["worker"]
        )
        for worker_id, n in pool.processed.items():
            processed.add_metric([worker_id], n)
        yield processed
