"""The fault-injection harness: real worker processes, real databases, real signals.

:class:`Cluster` starts ``python -m jobsim worker`` processes (and optionally the service)
with the ``mp_handlers:chaos`` handler, which appends ``start``/``end``/``fail`` lines (job,
attempt, pid, wall-clock time) to a file per process with one unbuffered write each, so the
lines survive ``kill -9``. :func:`audit` reads them back and checks the promise:

* every job completed, none left ``processing``;
* a job ran more often than its deliberate failures explain **only** because a process died
  (``kill -9``) while holding it: each such run belongs to a killed pid and either has no
  ``end``/``fail`` line or ended before its outcome was written (the store accepted a later
  attempt), and is followed by exactly one more run;
* two runs of one job never overlapped in time (a killed run lasts until its kill);
* no process exited non-zero except the killed ones (and one sent SIGTERM before its pool
  started, which the signal's default action ends while it holds nothing).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parent


@dataclass
class Run:
    """One attempt of one job as its handler logged it."""

    job: str
    attempt: int
    pid: int
    start: float
    end: float | None = None
    outcome: str | None = None  # "end", "fail", or None (never finished: killed)


@dataclass
class Figures:
    """What a chaos run did and what the audit found."""

    jobs: int = 0
    runs: int = 0
    kills: int = 0
    terms: int = 0
    outages: list[str] = field(default_factory=list)
    deliberate_failures: int = 0
    duplicates_explained: int = 0  # extra runs caused by a kill -9 of their holder
    duplicates_unexplained: int = 0
    overlaps: int = 0
    per_kill: dict[int, int] = field(default_factory=dict)  # pid -> runs it held when killed
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.jobs} jobs, {self.runs} runs, {self.kills} kill -9, {self.terms} SIGTERM, "
            f"outages {self.outages or 'none'}, {self.deliberate_failures} deliberate failures, "
            f"duplicates explained {self.duplicates_explained} "
            f"(per kill: {sorted(self.per_kill.values())}), "
            f"unexplained {self.duplicates_unexplained}, overlaps {self.overlaps}"
        )


class Cluster:
    """Worker processes (and the service) on one store URL, with the handler's logs."""

    def __init__(self, url: str, results: Path, *, lease: float, grace: float) -> None:
        self.url = url
        self.results = results
        self.lease = lease
        self.grace = grace
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.stopping: dict[str, subprocess.Popen[str]] = {}
        self.finished: dict[str, int] = {}  # name -> exit status of a graceful stop
        self.killed: dict[int, float] = {}  # pid -> when it was dead
        self.serial = 0
        self.figures = Figures()

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
            "JOBSIM_TEST_RESULTS": str(self.results),
        }

    def start_worker(self, workers: int = 4, extra: list[str] | None = None) -> str:
        self.serial += 1
        name = f"w{self.serial}"
        cmd = [
            sys.executable, "-m", "jobsim", "worker", "--store", self.url,
            "--workers", str(workers), "--lease", str(self.lease), "--grace", str(self.grace),
            "--name", name, "--handler", "mp_handlers:chaos", "--poll", "0.2",
            "--retry-base", str(self.lease * 1.5), "--no-jitter", *(extra or []),
        ]  # fmt: skip
        log = open(self.results / f"{name}.log", "w")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        return name

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()
        self.killed[proc.pid] = time.time()
        self.figures.kills += 1

    def sigterm(self, name: str, chaos: bool = True) -> None:
        """Ask for a graceful stop; it drains in the background (see :meth:`reap`)."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        self.stopping[name] = proc
        self.figures.terms += chaos

    def reap(self, wait: bool = False) -> None:
        for name, proc in list(self.stopping.items()):
            if wait:
                proc.wait(timeout=self.grace + 30)
            if proc.poll() is not None:
                self.finished[name] = proc.returncode
                del self.stopping[name]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{name} died on its own (exit {proc.returncode}):\n{self.log(name)[-3000:]}"
                )

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.sigterm(name, chaos=False)
        self.reap(wait=True)

    def kill_everything(self) -> None:
        for proc in [*self.procs.values(), *self.stopping.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def log(self, name: str) -> str:
        return (self.results / f"{name}.log").read_text(errors="replace")

    def random_worker(self, rng: random.Random) -> str:
        return rng.choice(sorted(self.procs))

    def runs(self) -> dict[str, list[Run]]:
        """Every run of every job from the handlers' logs, in start order."""
        runs: dict[tuple[str, int, int], Run] = {}
        for path in self.results.glob("*.txt"):
            for line in path.read_text().splitlines():
                kind, job, attempt, pid, at = line.split()
                key = (job, int(attempt), int(pid))
                if kind == "start":
                    runs[key] = Run(job, int(attempt), int(pid), float(at))
                else:
                    runs[key].end, runs[key].outcome = float(at), kind
        by_job: dict[str, list[Run]] = defaultdict(list)
        for run in runs.values():
            by_job[run.job].append(run)
        for job_runs in by_job.values():
            job_runs.sort(key=lambda r: r.start)
        return by_job


def audit(cluster: Cluster, jobs: dict[str, Any], final: list[Any]) -> Figures:
    """Check the promise against the handlers' logs and the store's final state.

    ``jobs``: job id -> its ``fail_until``; ``final``: every job as the store has it now.
    """
    fig = cluster.figures
    fig.jobs = len(jobs)
    by_job = cluster.runs()
    fig.runs = sum(len(r) for r in by_job.values())
    accepted = {job.id: job.attempts for job in final}
    for job in final:
        if job.status.value != "completed":
            fig.problems.append(f"job {job.id} ended {job.status.value}, not completed")
    for job_id, fail_until in jobs.items():
        runs = by_job.get(job_id, [])
        # Died while holding the claim: killed mid-run, or after the handler returned but
        # before its outcome was written (the store accepted a later attempt instead).
        killed = [
            r
            for r in runs
            if r.pid in cluster.killed
            and (r.outcome is None or (r.outcome == "end" and r.attempt != accepted.get(job_id)))
        ]
        for run in killed:
            fig.per_kill[run.pid] = fig.per_kill.get(run.pid, 0) + 1
        stray = [r for r in runs if r.outcome is None and r.pid not in cluster.killed]
        if stray:
            fig.problems.append(f"job {job_id}: runs that never ended in live processes {stray}")
        fails = [r for r in runs if r.outcome == "fail"]
        fig.deliberate_failures += len(fails)
        if any(r.attempt > fail_until for r in fails):
            fig.problems.append(f"job {job_id}: a run failed that should not have: {runs}")
        completed_runs = [r for r in runs if r.outcome == "end" and r not in killed]
        extra = len(runs) - len(fails) - 1  # runs neither failing on purpose nor completing
        fig.duplicates_explained += len(killed)
        if len(completed_runs) != 1 or completed_runs[0].attempt != accepted.get(job_id):
            fig.problems.append(f"job {job_id}: {len(completed_runs)} runs completed: {runs}")
        if extra != len(killed):
            fig.duplicates_unexplained += max(0, extra - len(killed))
            fig.problems.append(
                f"job {job_id}: {len(runs)} runs, {len(fails)} failing on purpose, "
                f"{len(killed)} killed: {runs}"
            )
        for before, after in itertools.pairwise(runs):
            ended = before.end if before.end is not None else cluster.killed.get(before.pid)
            if ended is None or after.start < ended:
                fig.overlaps += 1
                fig.problems.append(f"job {job_id}: runs overlap: {before} and {after}")
    for name, status in cluster.finished.items():
        if status == -signal.SIGTERM and "workers pulling" not in cluster.log(name):
            continue  # stopped while still starting up (the default action): it held nothing
        if status != 0:
            fig.problems.append(f"{name} exited {status}:\n{cluster.log(name)[-2000:]}")
    return fig
