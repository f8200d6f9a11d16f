"""The worker pool, as small parts with one job each.

``WorkerPool`` (:mod:`jobsim.pool.core`) puts them together (checked by
:mod:`~jobsim.pool.options`, wired and run by :mod:`~jobsim.pool.running`, stopped in order by
:mod:`~jobsim.pool.shutdown`):

* :mod:`~jobsim.pool.intake`: submit, deliver, backpressure, the closing gate;
* :mod:`~jobsim.pool.dispatch`: where delivered jobs wait and who runs next (the one bounded
  channel by default); the other policies implement the same interface:
  :mod:`~jobsim.pool.priority` (priorities with aging), :mod:`~jobsim.pool.prefetch`
  (per-worker buffers), :mod:`~jobsim.pool.limits` (rate and concurrency per job type),
  chosen by :mod:`~jobsim.pool.policies` from ``dispatch=`` and ``limits=``;
* :mod:`~jobsim.pool.crew`: the worker tasks, how many run, how each one stops;
* :mod:`~jobsim.pool.push` and :mod:`~jobsim.pool.pull`: the two modes, chosen once (push
  over the dispatch; pull from a shared store with leases, renewal and a sweeper);
* :mod:`~jobsim.pool.runner`: one job's handler under its timeout;
* :mod:`~jobsim.pool.outcomes`: complete / fail / retry / release / cancel, one place;
* :mod:`~jobsim.pool.stats`: the counters behind ``ShutdownReport`` and ``/health``, and
  :mod:`~jobsim.pool.gauges`: what a pool shows of itself (state, sizes, counters, health);
* :mod:`~jobsim.pool.scalers`: how many run over time (``Schedule``, ``Autoscaler``).
"""

from jobsim.clock import loop_clock
from jobsim.events import TraceEvent, Tracer
from jobsim.pool.core import WorkerPool
from jobsim.pool.dispatch import ChannelDispatch, Dispatch
from jobsim.pool.intake import State
from jobsim.pool.limits import Concurrency, RateLimit
from jobsim.pool.prefetch import Prefetch
from jobsim.pool.priority import Priority
from jobsim.pool.runner import Handler
from jobsim.pool.scalers import Autoscaler, Scaler, Schedule
from jobsim.pool.stats import PoolStats, ShutdownReport

__all__ = [
    "Autoscaler",
    "ChannelDispatch",
    "Concurrency",
    "Dispatch",
    "Handler",
    "PoolStats",
    "Prefetch",
    "Priority",
    "RateLimit",
    "Scaler",
    "Schedule",
    "ShutdownReport",
    "State",
    "TraceEvent",
    "Tracer",
    "WorkerPool",
    "loop_clock",
]
