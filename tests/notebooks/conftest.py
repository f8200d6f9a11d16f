"""Execute lesson notebooks once per test session and hand them to the tests that check them.

``executed("02-duplicate-prevention")`` runs ``notebooks/02-duplicate-prevention.ipynb`` top to
bottom in a fresh kernel (once, however many tests ask) and returns the executed notebook, so
each lesson's test module can check the numbers and labels its conclusions rest on.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from lesson import NOTEBOOKS

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

KERNEL = "python3"


@pytest.fixture(scope="session")
def kernel() -> str:
    """The ``python3`` kernelspec, installed for this interpreter if a fresh machine lacks it."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL not in KernelSpecManager().find_kernel_specs():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL],
            check=True,
            capture_output=True,
        )
    return KERNEL


@pytest.fixture(scope="session")
def executed(kernel: str) -> Callable[[str], Any]:
    """``executed(stem)``: the notebook ``notebooks/<stem>.ipynb`` after a fresh-kernel run."""
    cache: dict[str, Any] = {}
    mp = pytest.MonkeyPatch()
    # Inline figures (a CI that exports MPLBACKEND=Agg would otherwise get no images).
    mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    def run(stem: str) -> Any:
        if stem not in cache:
            path = NOTEBOOKS / f"{stem}.ipynb"
            notebook = nbformat.read(path, as_version=4)
            client = nbclient.NotebookClient(
                notebook,
                kernel_name=kernel,
                timeout=240,  # per cell
                resources={"metadata": {"path": str(NOTEBOOKS)}},
            )
            client.execute()  # raises CellExecutionError (cell and traceback) on any error
            cache[stem] = notebook
        return cache[stem]

    yield run
    mp.undo()
