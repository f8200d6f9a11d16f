"""Job ids: 32 hex digits, unique across processes and hosts; unique, not unguessable.

64 random bits from the OS once per process (again in a forked child, so parent and child
never share a sequence), then a counter. Every :class:`~jobsim.domain.Job` without an id of
its own takes one here, so the counter is spelled for speed: a head (the prefix and the
count's high digits, formatted once per 256 ids) plus one of 256 ready-made two-digit tails.
An id then costs one string concatenation, all of it in C: half the cost of formatting a
counter per id. Ids made by one process sort in the order they were made.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from itertools import repeat
from operator import add

__all__ = ["new_job_id", "next_id"]

_TAILS = tuple(f"{i:02x}" for i in range(256))

#: the next id (rebound when the process forks); :func:`new_job_id` is the public name
next_id: Callable[[], str]


def _tails_after(head: str) -> Iterator[str]:
    # operator.add, not head.__add__: a builtin is called without packing its arguments
    return map(add, repeat(head, len(_TAILS)), _TAILS)


def _reseed() -> None:
    global next_id
    # a head: 16 random digits and a 14-digit count from 2**52, so every id has 32 digits
    heads = map((os.urandom(8).hex() + "{:x}").format, itertools.count(1 << 52))
    next_id = itertools.chain.from_iterable(map(_tails_after, heads)).__next__


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_job_id() -> str:
    """A fresh, globally unique job id (32 hex digits)."""
    return next_id()
