"""Every lesson notebook is committed clean, runs top to bottom in a fresh kernel and draws.

The checks of what each lesson concludes live beside this file, one module per notebook
(``test_NN_*.py``), on the same executed notebook (see ``conftest.executed``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lesson import NOTEBOOKS, outputs

nbformat = pytest.importorskip("nbformat")

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
HERE = Path(__file__).resolve().parent


def test_lessons_are_numbered_and_each_has_its_own_checks() -> None:
    numbers = [p.name[:2] for p in PATHS]
    assert len(numbers) >= 5 and all(n.isdigit() for n in numbers), numbers
    assert len(set(numbers)) == len(numbers), f"two lessons share a number: {numbers}"
    missing = [n for n in numbers if not list(HERE.glob(f"test_{n}_*.py"))]
    assert not missing, f"notebooks without a test module checking their conclusions: {missing}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_plots(path: Path, executed: Callable[[str], Any]) -> None:
    notebook = executed(path.stem)
    outs = outputs(notebook)
    images = [out for out in outs if "image/png" in out.get("data", {})]
    assert images, f"{path.name} drew no plot (no image/png output)"
    errors = [out for out in outs if out.get("output_type") == "error"]
    assert not errors
