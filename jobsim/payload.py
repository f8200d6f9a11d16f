"""One rule for what a job carries, checked once when the :class:`~jobsim.domain.Job` is made.

Every store keeps a job exactly as given or refuses it the same way, so the rule is standard
JSON as every store can hold it:

* the payload is a dict of **string keys**; values are dicts, lists, strings, ints, finite
  floats, booleans or None (a tuple would come back from a SQL store as a list, an int key as a
  string: both are refused instead of being changed silently);
* **no NaN or Infinity** (not JSON; PostgreSQL's ``jsonb`` rejects them);
* text is valid Unicode (**no lone surrogates**) and **contains no NUL** (``\\x00``): PostgreSQL
  cannot store NUL in ``text`` or ``jsonb``, so no store accepts it;
* ids and types are non-empty, printable and at most :data:`MAX_NAME_LENGTH` characters;
* a priority is an integer in :data:`PRIORITY_RANGE`, a ttl a positive, finite number of seconds.

One difference remains, PostgreSQL's own: ``jsonb`` keeps numbers as decimals, so a float with
no fractional part written in exponent form (``1e16`` and up) comes back as an ``int`` of the
same value, and ``-0.0`` as ``0.0``.

The common case (a flat dict of plain values) costs one loop of type checks.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "CHECKED_TYPES",
    "MAX_NAME_LENGTH",
    "PRIORITY_RANGE",
    "check_name",
    "check_payload",
    "check_priority",
    "check_ttl",
    "check_type",
]

#: Longest id or type accepted, in characters.
MAX_NAME_LENGTH = 200

#: Allowed priorities (a 32-bit integer, what every store's column holds); higher runs first.
PRIORITY_RANGE = range(-(2**31), 2**31)

_SURROGATE = re.compile("[\ud800-\udfff]")
_ALLOWED = "dict (string keys), list, str, int, float, bool or None"


def check_name(field: str, value: object) -> None:
    """Raise unless ``value`` is a usable id or type: a non-empty printable string of at most
    :data:`MAX_NAME_LENGTH` characters."""
    if not isinstance(value, str):
        raise TypeError(f"Job.{field} must be a string, got {value!r} ({type(value).__name__})")
    if not value:
        raise ValueError(f"Job.{field} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"Job.{field} is {len(value)} characters long; at most {MAX_NAME_LENGTH} allowed"
        )
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise ValueError(
            f"Job.{field} {value!r} contains the unprintable character {bad!r}; "
            "ids and types must be printable text"
        )


#: Job types already found well-formed: :class:`~jobsim.domain.Job` checks this set first
#: (bounded by :func:`check_type`, so a stream of distinct types cannot grow it without end).
CHECKED_TYPES: set[str] = set()
_CHECKED_TYPES_MAX = 1024


def check_type(name: object) -> None:
    """:func:`check_name` for a job type, remembering a good one in :data:`CHECKED_TYPES`."""
    if not (type(name) is str and 0 < len(name) <= MAX_NAME_LENGTH and name.isprintable()):
        check_name("type", name)
    elif len(CHECKED_TYPES) < _CHECKED_TYPES_MAX:
        CHECKED_TYPES.add(name)


def check_payload(payload: dict[str, Any]) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first field that breaks the rule."""
    for key, value in payload.items():
        if type(key) is not str or "\x00" in key or (not key.isascii() and _bad_text(key)):
            _check_key(key, "Job.payload")
        kind = type(value)
        if kind is str:
            if "\x00" in value or (not value.isascii() and _bad_text(value)):
                _check_value(value, f"Job.payload[{key!r}]")
        elif kind is float:
            if value - value != 0.0:  # NaN and +-Infinity
                _check_value(value, f"Job.payload[{key!r}]")
        elif kind is not int and kind is not bool and value is not None:
            _check_value(value, f"Job.payload[{key!r}]")


def _article(name: str) -> str:
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _bad_text(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _check_key(key: object, where: str) -> None:
    if not isinstance(key, str):
        raise TypeError(
            f"{where} has the key {key!r} ({type(key).__name__}); JSON keys must be strings "
            f"(a SQL store would turn it into {str(key)!r})"
        )
    _check_text(key, f"{where} key {key!r}")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise ValueError(
            f"{where} contains a NUL character (\\x00); no store accepts it "
            "(PostgreSQL cannot store it)"
        )
    found = _SURROGATE.search(text)
    if found is not None:
        raise ValueError(
            f"{where} contains the lone surrogate {found.group()!r} at index {found.start()}; "
            "text must be valid Unicode"
        )


def _check_value(value: object, where: str) -> None:
    """The full check of one value (recursive), reached only off the fast path."""
    if isinstance(value, str):
        _check_text(value, where)
    elif value is None or isinstance(value, int):  # bool is an int
        return
    elif isinstance(value, float):
        if value - value != 0.0:
            raise ValueError(
                f"{where} is {value!r}, which is not standard JSON; allowed: finite numbers"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_key(key, where)
            _check_value(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
    elif isinstance(value, tuple):
        raise TypeError(f"{where} is a tuple, which a store would give back as a list; pass a list")
    else:
        raise TypeError(
            f"{where} holds {_article(type(value).__name__)} ({value!r:.60}), which is not "
            f"JSON; allowed: {_ALLOWED}"
        )


def check_priority(value: object) -> int:
    """``value`` as a job priority, or a ``TypeError``/``ValueError`` saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"Job.priority must be an integer (higher runs first), got {value!r} "
            f"({type(value).__name__})"
        )
    if value not in PRIORITY_RANGE:
        raise ValueError(
            f"Job.priority must be between {PRIORITY_RANGE.start} and "
            f"{PRIORITY_RANGE.stop - 1}, got {value!r}"
        )
    return int(value)


def check_ttl(value: object) -> float:
    """``value`` as a ttl in seconds, or an error saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"Job.ttl must be a number of seconds or None, got {value!r} ({type(value).__name__})"
        )
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"Job.ttl must be a positive, finite number of seconds, got {value!r}")
    return float(value)
