"""The interfaces an ephemeris provider implements, and the HTTP requester a remote one needs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord
from cachefront.upstream import Priority

__all__ = ["EphemerisProvider", "HttpRequester", "Priority", "as_priority"]


class HttpRequester(Protocol):
    """What a remote provider sends its calls through (the upstream client's shape).

    ``priority`` tells the budget whether a user is waiting (``"user"``) or the call
    is background work such as precomputing.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        priority: Priority = "user",
    ) -> httpx.Response: ...


class EphemerisProvider(Protocol):
    """A source of geocentric positions on the time grid."""

    name: str

    async def positions(
        self,
        body: Body,
        start: datetime,
        stop: datetime,
        step: timedelta,
        *,
        priority: str = "user",
    ) -> list[EphemerisRecord]:
        """One record per grid instant from ``start`` to ``stop``, both included.

        ``start`` and ``stop`` are already grid instants of ``step``; ``priority`` is
        ``"user"`` or ``"background"``.
        """
        ...


def as_priority(value: str) -> Priority:
    """``value`` as the upstream client's priority; anything but the two names is a bug."""
    if value == "user":
        return "user"
    if value == "background":
        return "background"
    raise ValueError(f"priority must be 'user' or 'background', got {value!r}")
