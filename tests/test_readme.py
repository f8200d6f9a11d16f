"""The README's worker-pool example runs as printed (a user's first contact with jobsim)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r}"
    return match.group(1)


def test_worker_pool_example_runs_and_completes_every_job() -> None:
    code = python_block_after("The worker pool")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "ShutdownReport(completed=100, failed=0, pending=0" in done.stdout
