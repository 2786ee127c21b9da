"""What an upstream's answer says about our budget: the usage it counts, and holds it asks for.

Two signals, both optional per upstream (``ServerSignals``):

- **Reported usage.** Some upstreams name, in a response header (``used_header``,
  matched case-insensitively), how many units they count as used in the current
  window, for every client on our address together. The budget raises its own count to
  at least that many units, never lowers it. The header must count in the budget's own
  window and units (a per-minute weight header for a ``"…/minute"`` weight budget).
  Without ``published_limit`` the number counts as-is: the budget then caps the whole
  address's usage at our limit, which is what a limit set below the upstream's
  published one is for (the headroom stays free whoever spends the rest). With
  ``published_limit`` the number is scaled onto our limit
  (``ceil(used * our_limit / published_limit)``), for a budget that is one share of the
  address's allowance among several clients that each keep to their own share.
- **Holds.** A response whose status is in ``hold_statuses`` and which carries
  ``Retry-After`` (seconds or an HTTP-date) puts the whole upstream on hold until then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx

from cachefront.upstream.retry import parse_retry_after

__all__ = ["NO_SIGNALS", "ServerSignals"]


@dataclass(frozen=True, slots=True)
class ServerSignals:
    """Which response headers and statuses of one upstream the budget listens to."""

    used_header: str | None = None
    published_limit: int | None = None
    hold_statuses: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.published_limit is not None and self.published_limit < 1:
            raise ValueError(f"published_limit must be at least 1, got {self.published_limit}")
        if self.published_limit is not None and self.used_header is None:
            raise ValueError("published_limit scales the used_header, which is not set")
        bad = sorted(code for code in self.hold_statuses if not 400 <= code <= 599)
        if bad:
            raise ValueError(f"hold_statuses must be HTTP error statuses, got {bad}")

    def reported_usage(self, response: httpx.Response, our_limit: int) -> int | None:
        """The units of our limit the upstream says are used now, or None when it says nothing.

        Capped at ``our_limit``; an unreadable header is ignored, as if absent.
        """
        if self.used_header is None:
            return None
        raw = response.headers.get(self.used_header)  # httpx headers ignore case
        if raw is None or not raw.strip().isdigit():
            return None
        used = int(raw.strip())
        if self.published_limit is not None:
            used = math.ceil(used * our_limit / self.published_limit)
        return min(used, our_limit)

    def hold_seconds(self, response: httpx.Response) -> float | None:
        """How long ``response`` puts the upstream on hold, or None when it does not."""
        if response.status_code not in self.hold_statuses:
            return None
        seconds = parse_retry_after(response.headers.get("retry-after"))
        if seconds is None or seconds <= 0:
            return None
        return seconds


NO_SIGNALS = ServerSignals()
