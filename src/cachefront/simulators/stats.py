"""The request counters every simulator's ``GET /_stats`` shows.

``requests`` and ``by_<key>`` (path, body...) count requests as they arrive, so a
request still held by a configured latency already counts; ``by_status`` counts
answers sent. Extra counters (weight used, rows sent...) are added by name. A reset
starts a new counting period: an answer that outlived it (a long latency) is not
counted in the new one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["RequestStats"]


class RequestStats:
    """Counters of one simulator; ``shown`` names extras that show even while zero."""

    def __init__(self, by: str = "path", shown: tuple[str, ...] = ()) -> None:
        self._by = by
        self._shown = shown
        self.period = 0  # bumped by every reset
        self.requests = 0
        self.by_status: Counter[str] = Counter()
        self.by_key: Counter[str] = Counter()
        self.extras: Counter[str] = Counter(dict.fromkeys(shown, 0))

    def arrived(self, key: str) -> int:
        """Count a request as it arrives; returns the counting period it belongs to."""
        self.requests += 1
        self.by_key[key] += 1
        return self.period

    def answered(self, period: int, status: int, **counts: int) -> None:
        """Count an answer (and ``counts`` of what it carried) if its period is current."""
        if period != self.period:
            return
        self.by_status[str(status)] += 1
        for name, amount in counts.items():
            self.extras[name] += amount

    def count(self, name: str, amount: int = 1) -> None:
        """Add to an extra counter at once, whatever the period."""
        self.extras[name] += amount

    def reset(self) -> None:
        """Zero every counter and start a new period."""
        self.requests = 0
        self.by_status.clear()
        self.by_key.clear()
        self.extras = Counter(dict.fromkeys(self._shown, 0))
        self.period += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(self.by_status),
            f"by_{self._by}": dict(self.by_key),
            **dict(self.extras),
        }
