"""Handlers for the multi-process tests, imported by ``python -m jobsim worker --handler``.

Every attempt appends ``start <id> <attempts>`` and ``done <id> <attempts>`` lines to a file
per process in ``$JOBSIM_TEST_RESULTS``, with one unbuffered ``O_APPEND`` write each, so the
lines survive a ``kill -9`` and the test can count exactly how often each job ran.
"""

from __future__ import annotations

import os
import time

import anyio

from jobsim import Job

_fd: int | None = None


def _write(line: str) -> None:
    global _fd
    if _fd is None:
        path = os.path.join(os.environ["JOBSIM_TEST_RESULTS"], f"{os.getpid()}.txt")
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_fd, line.encode())


async def record(job: Job) -> str:
    """Record the attempt; sleep ``sleep_first`` seconds on the first attempt (so a test can
    kill the process mid-job), ``duration`` seconds otherwise."""
    _write(f"start {job.id} {job.attempts}\n")
    if job.attempts == 1 and "sleep_first" in job.payload:
        await anyio.sleep(float(job.payload["sleep_first"]))
    else:
        await anyio.sleep(float(job.payload.get("duration", 0)))
    _write(f"done {job.id} {job.attempts}\n")
    return job.id


async def chaos(job: Job) -> str:
    """For the fault-injection suite: log ``start``/``end``/``fail`` lines with the attempt,
    pid and wall-clock time; sleep ``duration``; fail while ``attempts <= fail_until``."""
    pid = os.getpid()
    _write(f"start {job.id} {job.attempts} {pid} {time.time():.6f}\n")
    await anyio.sleep(float(job.payload.get("duration", 0)))
    if job.attempts <= int(job.payload.get("fail_until", 0)):
        _write(f"fail {job.id} {job.attempts} {pid} {time.time():.6f}\n")
        raise RuntimeError(f"deliberate failure of attempt {job.attempts}")
    _write(f"end {job.id} {job.attempts} {pid} {time.time():.6f}\n")
    return job.id
