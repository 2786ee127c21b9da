"""An outbound budget's moving window in process memory, at a few microseconds a call.

``limits``' MemoryStorage costs a third of a millisecond of CPU per call here: every
hit schedules an expiry task that hops to a thread for a bisect, and inserts at the
front of a list of one entry per unit. This window keeps one ``(time, units)`` pair per
hit in a deque with a running total and drops what left the window on each look, so a
call costs the same whatever the limit. It answers the three calls the budget makes of
``limits``' ``MovingWindowRateLimiter`` (``hit``, ``test``, ``get_window_stats``) with
the same meaning, so the budget treats both counts alike; Redis still goes through
``limits``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem
from limits.util import WindowStats

__all__ = ["MemoryMovingWindow"]


class _Window:
    __slots__ = ("hits", "total")

    def __init__(self) -> None:
        self.hits: deque[tuple[float, int]] = deque()
        self.total = 0


class MemoryMovingWindow:
    """Moving-window counts per key, in this process only (wall clock, as ``limits``)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _current(self, item: RateLimitItem, key: str, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
            return window
        cutoff = now - item.get_expiry()
        hits = window.hits
        while hits and hits[0][0] <= cutoff:
            window.total -= hits.popleft()[1]
        return window

    async def hit(self, item: RateLimitItem, key: str, *, cost: int = 1) -> bool:
        """Count ``cost`` units now if they fit in the window; False (nothing counted) if not."""
        now = self._clock()
        window = self._current(item, key, now)
        if window.total + cost > item.amount:
            return False
        window.hits.append((now, cost))
        window.total += cost
        return True

    async def test(self, item: RateLimitItem, key: str, *, cost: int = 1) -> bool:
        """True when ``cost`` more units would fit now (nothing counted)."""
        window = self._current(item, key, self._clock())
        return window.total + cost <= item.amount

    async def get_window_stats(self, item: RateLimitItem, key: str) -> WindowStats:
        """When the oldest counted unit leaves the window, and the units still free."""
        now = self._clock()
        window = self._current(item, key, now)
        oldest = window.hits[0][0] if window.hits else now
        return WindowStats(oldest + item.get_expiry(), item.amount - window.total)
