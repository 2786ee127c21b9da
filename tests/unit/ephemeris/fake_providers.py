"""A fake upstream for EphemerisService tests: scripted answers, failures and hangs.

Each fake answers every grid instant asked with records of its own name, or fails, or
hangs until the test releases it, and records every call; so each test says exactly
which calls the service made, and no outcome depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachefront.cache import CachePolicy
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord

__all__ = ["FALLBACK", "POLICY", "Call", "FakeProvider", "record_of"]

POLICY = CachePolicy(fresh_for=timedelta(days=30), stale_for=timedelta(days=1), tiers=("memory",))
FALLBACK = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(days=1), tiers=("memory",))


@dataclass(frozen=True)
class Call:
    body: Body
    start: datetime
    stop: datetime
    step: timedelta
    priority: str


class FakeProvider:
    """An upstream that answers every grid instant asked, fails, or hangs until released."""

    def __init__(self, name: str, order: list[str] | None = None) -> None:
        self.name = name
        self.order = order  # shared by several fakes: who was asked when
        self.calls: list[Call] = []
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None  # when set: hang until the test sets it
        self.asked = asyncio.Event()

    async def positions(
        self,
        body: Body,
        start: datetime,
        stop: datetime,
        step: timedelta,
        *,
        priority: str = "user",
    ) -> list[EphemerisRecord]:
        self.calls.append(Call(body, start, stop, step, priority))
        if self.order is not None:
            self.order.append(self.name)
        self.asked.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        count = (stop - start) // step + 1
        return [record_of(body, start + i * step, self.name) for i in range(count)]


def record_of(body: Body, at: datetime, provider: str) -> EphemerisRecord:
    return EphemerisRecord(
        body=body.value,
        at=at,
        ra_deg=1.0,
        dec_deg=2.0,
        distance_au=1.5,
        ecliptic_lon_deg=3.0,
        ecliptic_lat_deg=0.1,
        speed_deg_per_day=0.5,
        retrograde=False,
        provider=provider,
    )
