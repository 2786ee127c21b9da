"""Per-caller quota counters in PostgreSQL: a hold is one statement in one round trip.

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

A settle needs no round trip of its own on the call's path: the difference waits in a
``SettleBacklog`` and what a caller's calls settled within ``SETTLE_SECONDS`` goes in
one statement, under the identity that held it (so the policy still refuses a settle
of another caller's row). Until then the row stands higher than it is, which can only
refuse, never admit, too much; reads add what is waiting. Both statements commit
without waiting for the disk (see ``sql/queries.sql``).
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
from cachefront.services.ai.settle_backlog import SettleBacklog

__all__ = ["QUERIES", "Held", "PostgresCounters", "as_someone"]

# What a settle is sent as: the statement's identity parameters, the owner and the day.
_SettleKey = tuple[str | None, str | None, str | None, str, date]

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
        self._backlog: SettleBacklog[_SettleKey] = SettleBacklog(
            self._send_settled, store="postgres"
        )

    def _identity(self) -> dict[str, str | None]:
        with as_someone():
            who = statement_identity(self.engine)
        return {"uid": who.uid, "role": who.role, "app_role": who.app_role}

    def _settle_key(
        self, owner: str, day: date, who: dict[str, str | None] | None = None
    ) -> _SettleKey:
        who = who or self._identity()
        return (who["uid"], who["role"], who["app_role"], owner, day)

    async def hold(
        self, owner: str, now: datetime, tokens: int, day_limit: int, minute_limit: int
    ) -> Held:
        who = self._identity()
        params = {
            **who,
            "owner": owner,
            "day": now.date(),
            "minute": minute_of(now),
            "tokens": tokens,
            "day_limit": day_limit,
            "minute_limit": minute_limit,
        }
        async with self._single.connect() as conn:
            row = (await conn.execute(QUERIES.text("hold"), params)).one()
        # The row still counts holds settled but not sent: what the caller is told
        # (the x-ratelimit-* headers) leaves them out, as a read does.
        unsent = self._backlog.unsent(self._settle_key(owner, now.date(), who))
        return Held(bool(row[0]), max(int(row[1]) + unsent, 0), int(row[2]))

    async def settle(self, owner: str, day: date, reserved: int, used: int) -> None:
        # Owed under the identity settling it: another caller's settle stays theirs.
        self._backlog.owe(self._settle_key(owner, day), used - reserved)

    async def _send_settled(self, waiting: dict[_SettleKey, int]) -> None:
        # One statement per identity, owner and day: each sets its own identity, so
        # the policy judges every difference as it would have judged its settle.
        for uid, role, app_role, owner, day in list(waiting):
            key = (uid, role, app_role, owner, day)
            params = {
                "uid": uid,
                "role": role,
                "app_role": app_role,
                "owner": owner,
                "day": day,
                "reserved": 0,
                "used": waiting[key],
            }
            async with self._single.connect() as conn:
                await conn.execute(QUERIES.text("settle"), params)
            # Sent: a failure further on must not send it twice.
            del waiting[key]

    async def send_settled(self) -> None:
        """Send every settled difference waiting, now."""
        await self._backlog.send_all()

    async def read(self, owner: str, now: datetime) -> tuple[int, int]:
        params = {"owner": owner, "day": now.date(), "minute": minute_of(now)}
        with as_someone():
            async with self.engine.connect() as conn:
                row = (await conn.execute(QUERIES.text("quota_now"), params)).first()
        day_tokens, minute_requests = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        unsent = self._backlog.unsent(self._settle_key(owner, now.date()))
        return max(day_tokens + unsent, 0), minute_requests

    async def aclose(self) -> None:
        await self._backlog.aclose()
