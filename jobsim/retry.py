"""RetryPolicy: how long a failed job waits before its next attempt.

Exponential backoff with optional *full jitter* (a uniform draw between 0 and the backoff),
the variant that spreads a thundering herd of retries best. Seeded, so simulations repeat.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]


@dataclass(slots=True)
class RetryPolicy:
    """Delay before attempt ``k + 1`` after attempt ``k`` failed.

    ``backoff(k) = min(max_delay, base * factor ** (k - 1))``; with ``jitter`` the delay is
    drawn uniformly from ``[0, backoff(k)]`` using a ``random.Random(seed)`` of its own.
    How many attempts a job gets is the job's ``max_attempts``; the policy only spaces them.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: bool = True
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value, low in (("base", self.base, 0.0), ("max_delay", self.max_delay, 0.0)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.factor, int | float) and math.isfinite(self.factor)):
            raise ValueError(
                f"RetryPolicy.factor must be a finite number >= 1, got {self.factor!r}"
            )
        if self.factor < 1:
            raise ValueError(
                f"RetryPolicy.factor must be a finite number >= 1, got {self.factor!r}"
            )
        self._rng = random.Random(self.seed)

    def backoff(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt!r}")
        exponent = min(attempt - 1, 1024)  # avoid float overflow for absurd attempt counts
        try:
            raw = self.base * self.factor**exponent
        except OverflowError:
            raw = math.inf
        return min(self.max_delay, raw)

    def delay(self, attempt: int) -> float:
        """The delay to wait after failed attempt ``attempt``, jittered if configured."""
        ceiling = self.backoff(attempt)
        return self._rng.uniform(0.0, ceiling) if self.jitter else ceiling
