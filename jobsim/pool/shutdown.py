"""The orderly stop: the Go service's shutdown sequence, in reverse dependency order.

Stop intake -> wait for in-flight submits -> close the channel -> workers finish -> join every
worker task. It cannot close the channel under a sender or leave a job ``processing``: at a
deadline the running jobs are cancelled and put back to pending.
"""

from __future__ import annotations

import logging
import math
import time

import anyio

from jobsim.domain import JobStatus
from jobsim.pool.running import Running
from jobsim.pool.stats import ShutdownReport

__all__ = ["check_timeout", "shut_down"]

logger = logging.getLogger("jobsim.pool")


def check_timeout(timeout: float | None) -> None:
    """Refuse a shutdown ``timeout`` that is not None or a finite number >= 0."""
    if timeout is not None and not (timeout >= 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be None or a finite number >= 0, got {timeout!r}")


async def shut_down(run: Running, drain: bool, timeout: float | None) -> ShutdownReport:
    """Run the sequence on a running pool once; see :meth:`WorkerPool.shutdown`."""
    mode, intake, crew = run.mode, run.intake, run.crew
    start = run.clock()
    wall_start = time.perf_counter()
    timed_out = False
    intake.close()  # 1. intake closed
    assert run.timers_scope is not None
    run.timers_scope.cancel()  # retry timers: their jobs stay pending
    logger.info("shutdown: intake closed (drain=%s, timeout=%s)", drain, timeout)
    with anyio.move_on_after(timeout) as deadline:
        if not drain or run.pull:
            run.stop_taking()
            mode.wake_idle(len(crew.live))  # pull mode: wake idle workers
        await intake.wait_idle(discard=not drain)  # 2. in-flight submits done
        mode.close()  # 3. channel closed: nobody can be sending any more
        logger.info("shutdown: channel closed with %d job(s) queued", mode.depth)
        await crew.wait_done()  # 4. workers finished
    if deadline.cancelled_caught:
        timed_out = True
        run.stop_taking()
        logger.warning(
            "shutdown: deadline of %ss passed; cancelling %d running job(s)",
            timeout,
            len(run.crew.running()),
        )
        assert run.workers_scope is not None
        run.workers_scope.cancel()
        await intake.wait_idle(discard=True)
        mode.close()
        await crew.wait_done()
    counts = await run.store.counts()
    report = run.report = run.stats.report(
        pending=counts[JobStatus.PENDING],
        drained=drain and not timed_out and not run.pull,
        timed_out=timed_out,
        elapsed=run.clock() - start,
    )
    intake.state = "closed"  # 5. joined: every worker task has returned
    run.done.set()
    logger.info(
        "shutdown complete in %.3fs: %d completed, %d failed, %d pending, %d interrupted",
        time.perf_counter() - wall_start,
        report.completed,
        report.failed,
        report.pending,
        report.interrupted,
    )
    return report
