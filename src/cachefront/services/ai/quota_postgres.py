"""Per-caller quota counters in PostgreSQL: a hold is one conditional upsert of the caller's row.

A reservation holds a request's maximum against the caller's tokens of the UTC day and
counts one request of the minute, in one conditional upsert of the caller's row
(``sql/queries.sql``, ``reserve``): every server of a deployment serializes on that
row's lock, so together they never admit past the limit. This is the gate of a
deployment without Redis, and of a call made while Redis does not answer.

Each statement runs as the request's identity, so row-level security holds the gate to
the caller's own rows; work with no identity (the gateway run without auth) acts as the
service.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.identity import current_identity
from cachefront.auth.isolation import acting_as_service
from cachefront.db.queries import load_queries
from cachefront.services.ai.quota_headers import minute_of

__all__ = ["QUERIES", "Held", "PostgresCounters", "as_someone"]

QUERIES = load_queries("cachefront.services.ai")


@dataclass(frozen=True, slots=True)
class Held:
    """A hold's outcome: admitted or not, and the caller's counters (after it, if admitted)."""

    admitted: bool
    day_tokens: int
    minute_requests: int


@contextlib.contextmanager
def as_someone() -> Iterator[None]:
    """The request's identity, or the service's when there is none."""
    if current_identity.get() is not None:
        yield
        return
    with acting_as_service():
        yield


class PostgresCounters:
    """Holds, settles and reads each caller's counters in its ``ai_quotas`` row."""

    name = "postgres"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def hold(
        self, owner: str, now: datetime, tokens: int, day_limit: int, minute_limit: int
    ) -> Held:
        params: dict[str, object] = {
            "owner": owner,
            "day": now.date(),
            "minute": minute_of(now),
            "tokens": tokens,
            "day_limit": day_limit,
            "minute_limit": minute_limit,
        }
        with as_someone():
            async with self.engine.begin() as conn:
                held = None
                if tokens <= day_limit:
                    held = (await conn.execute(QUERIES.text("reserve"), params)).first()
                if held is not None:
                    return Held(True, int(held[0]), int(held[1]))
                row = (await conn.execute(QUERIES.text("quota_now"), params)).first()
        used, requests = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        return Held(False, used, requests)

    async def settle(self, owner: str, day: date, reserved: int, used: int) -> None:
        if used == reserved:
            return
        params = {"owner": owner, "day": day, "reserved": reserved, "used": used}
        with as_someone():
            async with self.engine.begin() as conn:
                await conn.execute(QUERIES.text("settle"), params)

    async def read(self, owner: str, now: datetime) -> tuple[int, int]:
        params = {"owner": owner, "day": now.date(), "minute": minute_of(now)}
        with as_someone():
            async with self.engine.connect() as conn:
                row = (await conn.execute(QUERIES.text("quota_now"), params)).first()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    async def aclose(self) -> None:
        return None
