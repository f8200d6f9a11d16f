"""What notebook 04-capacity-planning concludes, checked on its executed run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lesson import text_of

STEM = "04-capacity-planning"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runs(executed: Callable[[str], Any]) -> None:
    # Placeholder for the lesson's checks: the notebook runs and says something.
    assert text_of(executed(STEM)).strip()
