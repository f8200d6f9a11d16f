"""Who runs next, as a pool option: ``dispatch=`` and ``limits=`` turned into a dispatch.

``dispatch`` is ``"fifo"`` (the default: the shared bounded channel), ``"priority"`` (or
``Priority(aging=...)``, :mod:`jobsim.pool.priority`) or ``Prefetch(k)``
(:mod:`jobsim.pool.prefetch`); text forms for command lines: ``"priority:30"`` (aging 30 s),
``"prefetch:4"``. ``limits`` (:mod:`jobsim.pool.limits`) puts a limited queue in front of
the workers, in FIFO or priority order. Errors name the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from jobsim.pool.dispatch import ChannelDispatch, Dispatch
from jobsim.pool.limits import Limit, LimitedDispatch, check_limits
from jobsim.pool.prefetch import Prefetch
from jobsim.pool.priority import Priority

__all__ = ["DispatchSpec", "Policy", "describe", "make_dispatch", "parse_dispatch", "validate"]

#: What ``dispatch=`` accepts.
DispatchSpec = str | Priority | Prefetch | None
#: A validated policy: None is the FIFO channel.
Policy = Priority | Prefetch | None

_ALLOWED = "'fifo', 'priority', Priority(aging=...) or Prefetch(k)"
_TEXT = "fifo, priority, priority:AGING_SECONDS or prefetch:K"


def parse_dispatch(spec: object) -> Policy:
    """The policy ``spec`` names (text forms included), or a clear ``ValueError``."""
    if spec is None or spec == "fifo":
        return None
    if isinstance(spec, Priority | Prefetch):
        return spec
    if isinstance(spec, str):
        kind, _, value = spec.strip().lower().partition(":")
        try:
            if kind == "priority":
                return Priority(aging=float(value) if value else None)
            if kind == "prefetch" and value:
                return Prefetch(int(value))
        except ValueError as exc:
            raise ValueError(f"dispatch {spec!r}: {exc}") from None
    raise ValueError(f"dispatch must be {_ALLOWED} (as text: {_TEXT}); got {spec!r}")


def describe(policy: Policy) -> str:
    """The policy as its text form (``"fifo"``, ``"priority:30"``, ``"prefetch:4"``)."""
    if policy is None:
        return "fifo"
    if isinstance(policy, Prefetch):
        return f"prefetch:{policy.k}"
    return "priority" if policy.aging is None else f"priority:{policy.aging:g}"


def make_dispatch(
    policy: Policy,
    limits: Mapping[str, tuple[Limit, ...]] | None,
    capacity: int,
    clock: Callable[[], float],
) -> Dispatch:
    """Build the dispatch a push-mode pool runs over."""
    if limits:
        if isinstance(policy, Prefetch):
            raise ValueError(
                "limits= cannot be combined with Prefetch(k): a prefetched job is already "
                "promised to one worker; use dispatch='fifo' or 'priority' with limits"
            )
        aging = policy.aging if isinstance(policy, Priority) else None
        return LimitedDispatch(capacity, clock, limits, by_priority=policy is not None, aging=aging)
    if policy is None:
        return ChannelDispatch(capacity)
    return policy.build(capacity, clock)


def validate(dispatch: object, limits: object) -> tuple[Policy, dict[str, tuple[Limit, ...]]]:
    """Check ``dispatch=`` and ``limits=`` when the pool is made (errors before it starts)."""
    policy = parse_dispatch(dispatch)
    checked = check_limits(limits) if limits is not None else {}
    if checked and isinstance(policy, Prefetch):
        make_dispatch(policy, checked, 1, lambda: 0.0)  # raises the clear error
    return policy, checked
