"""Helpers for the notebook checks: where the lessons live and what a reader sees in one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def outputs(notebook: Any) -> list[Any]:
    """Every output of every code cell, in order."""
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def text_of(notebook: Any) -> str:
    """All text a reader sees in the executed notebook: markdown, printed output and results."""
    parts: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(out["text"])
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def tagged(notebook: Any, tag: str) -> Any:
    """The one cell tagged ``tag`` in its metadata (how a lesson marks the cells checks read)."""
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def printed(cell: Any) -> str:
    """What a code cell printed (its stdout)."""
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def result(cell: Any) -> Any:
    """The value a code cell ended with, when it is a plain literal (a dict of lists, ...)."""
    import ast

    shown = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
    assert shown, "the cell shows no result"
    return ast.literal_eval(shown[-1]["data"]["text/plain"])


def numbers(pattern: str, text: str) -> list[float]:
    """The numbers ``pattern``'s groups capture in ``text`` (fails, quoting the text, if none)."""
    import re

    found = re.search(pattern, text)
    assert found, f"{pattern!r} not found in:\n{text}"
    return [float(g) for g in found.groups()]


def checker(notebook: Any) -> Any:
    """The lesson's exercise checker: the ``check`` its cell tagged "checker" defines, run here
    (the cell imports what it needs), so a test can hand it wrong answers too."""
    namespace: dict[str, Any] = {}
    exec(tagged(notebook, "checker").source, namespace)  # our own notebook
    return namespace["check"]


def assert_exercise(notebook: Any, solved: str, right: Any, wrong: dict[Any, str]) -> None:
    """The lesson's "your turn" cell asks (no answer yet), its hidden solution prints ``solved``,
    and its checker accepts ``right`` while refusing each ``wrong`` answer with a hint matching
    the given pattern: the exercise really asks back and really checks."""
    import pytest

    assert "No answer yet" in printed(tagged(notebook, "exercise"))
    solution = tagged(notebook, "solution")
    assert solved in printed(solution)
    assert solution.metadata["jupyter"]["source_hidden"] is True
    check = checker(notebook)
    for answer, hint in wrong.items():
        with pytest.raises(AssertionError, match=hint):
            check(answer)
    check(right)
