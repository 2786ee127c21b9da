"""Per-caller quota counters in PostgreSQL: a hold or a settle is one statement in one round trip.

A reservation holds a request's maximum against the caller's tokens of the UTC day and
counts one request of the minute, in one conditional upsert of the caller's row: every
server of a deployment serializes on that row's lock, so together they never admit
past the limit. This is the gate of a deployment without Redis, and of a call made
while Redis does not answer, so it is on every call's path there.

The hold and the settle are each one call of a function of migration 0009
(``sql/queries.sql``, ``hold`` and ``settle``) on a connection in autocommit: the
statement is its own transaction, so no BEGIN, COMMIT or identity statement makes a
round trip of its own, and the row is locked only while the statement runs, not
across event-loop turns. The function sets the request's identity itself, as the
engine's "begin" event would have (``statement_identity``; that event is told to send
nothing with ``SETS_OWN_IDENTITY``), and the app role too behind a transaction pooler,
so row-level security still holds the gate to the caller's own row. Work with no
identity (the gateway run without auth) acts as the service.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.identity import current_identity
from cachefront.auth.isolation import SETS_OWN_IDENTITY, acting_as_service, statement_identity
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
        # The same pool; its connections run each statement as its own transaction and
        # have the "begin" event send nothing (the functions set the identity).
        self._single = engine.execution_options(
            isolation_level="AUTOCOMMIT", **{SETS_OWN_IDENTITY: True}
        )

    def _identity(self) -> dict[str, object]:
        with as_someone():
            who = statement_identity(self.engine)
        return {"uid": who.uid, "role": who.role, "app_role": who.app_role}

    async def hold(
        self, owner: str, now: datetime, tokens: int, day_limit: int, minute_limit: int
    ) -> Held:
        params = {
            **self._identity(),
            "owner": owner,
            "day": now.date(),
            "minute": minute_of(now),
            "tokens": tokens,
            "day_limit": day_limit,
            "minute_limit": minute_limit,
        }
        async with self._single.connect() as conn:
            row = (await conn.execute(QUERIES.text("hold"), params)).one()
        return Held(bool(row[0]), int(row[1]), int(row[2]))

    async def settle(self, owner: str, day: date, reserved: int, used: int) -> None:
        if used == reserved:
            return
        params = {
            **self._identity(),
            "owner": owner,
            "day": day,
            "reserved": reserved,
            "used": used,
        }
        async with self._single.connect() as conn:
            await conn.execute(QUERIES.text("settle"), params)

    async def read(self, owner: str, now: datetime) -> tuple[int, int]:
        params = {"owner": owner, "day": now.date(), "minute": minute_of(now)}
        with as_someone():
            async with self.engine.connect() as conn:
                row = (await conn.execute(QUERIES.text("quota_now"), params)).first()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    async def aclose(self) -> None:
        return None
