"""The sliding-window arithmetic both counting modes share: remaining room and retry time."""

from __future__ import annotations

import math

__all__ = ["outcome", "retry_after"]


def outcome(
    allowed: bool,
    previous: int,
    current: int,
    amount: int,
    window: int,
    elapsed: float,
    since_previous: float,
    since_current: float,
) -> tuple[bool, int, int]:
    """``(allowed, remaining, seconds)`` from a window's counts after the decision.

    ``since_previous`` and ``since_current`` are the seconds since the last counted hit
    of the previous and of the current window.
    """
    if not allowed:
        return (
            False,
            0,
            retry_after(previous, current, amount, window, elapsed, since_previous, since_current),
        )
    weighted = previous * (1.0 - elapsed / window) if since_previous < window else 0.0
    return (
        True,
        max(0, math.floor(amount - weighted - current)),
        max(1, math.ceil(window - elapsed)),
    )


def retry_after(
    previous: int,
    current: int,
    amount: int,
    window: int,
    elapsed: float,
    since_previous: float,
    since_current: float,
) -> int:
    """Seconds until the weighted count has room for one more request, at most ``window``.

    A window's count stops weighing once its last hit is a window old, so the answer is
    the earlier of that moment and the one the proportional weighting gives.
    """
    room = amount - 1 - current
    if room >= 0:
        # previous * (1 - t / window) <= room, solved for t within this window.
        at = window * (1.0 - room / previous) if previous else elapsed
        wait = min(at - elapsed, window - since_previous)
    else:
        # Only the next window helps: then the current count becomes the weighted previous.
        at_next = window * (1.0 - (amount - 1) / current) if current else 0.0
        wait = min(window - elapsed + at_next, window - since_current)
    return min(window, max(1, math.ceil(wait)))
