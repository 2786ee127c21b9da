"""The read engine: heavy reads go to a streaming replica while it answers and keeps up.

``ReadEngine.engine`` is the engine a room runs its heavy reads on (stats, history
ranges, listings): the replica's while the last check found it reachable, in recovery
and no more than ``max_lag_seconds`` behind, the primary's otherwise. A background
task checks every ``check_seconds``; a read that fails on the replica with a
connection error marks it down at once and runs again on the primary (``read``), so
a replica that goes away costs one failed attempt, not an error to the caller.
Without a replica URL it is the primary's engine, with no task at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.lifecycle import AsyncResource

__all__ = ["ReadEngine", "ReplicaState"]

log = logging.getLogger(__name__)

_LAG_SQL = load_queries("cachefront.db").text("replica_lag")
T = TypeVar("T")


class ReplicaState:
    """What the last check found: usable or not, why not, and the lag it measured."""

    def __init__(self) -> None:
        self.usable = False
        self.reason = "not checked yet"
        self.lag_seconds: float | None = None


class ReadEngine(AsyncResource):
    """Picks the replica or the primary for heavy reads; see the module doc."""

    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine | None = None,
        *,
        max_lag_seconds: float = 5.0,
        check_seconds: float = 1.0,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self.state = ReplicaState()
        self._checker: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The engine for the next heavy read."""
        if self.replica is not None and self.state.usable:
            return self.replica
        return self.primary

    async def read(self, query: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """``query(engine)`` on the chosen engine; again on the primary if the replica fails
        to connect or drops the connection midway."""
        engine = self.engine
        if engine is self.primary:
            return await query(engine)
        try:
            return await query(engine)
        except (OperationalError, DBAPIError) as exc:
            if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                raise
            self._mark(False, f"a read failed ({type(exc.orig).__name__})", None)
            return await query(self.primary)

    async def check(self) -> ReplicaState:
        """Ask the replica whether it is one, and how far behind it is; record the answer."""
        if self.replica is None:
            self._mark(False, "no replica configured", None)
            return self.state
        try:
            async with asyncio.timeout(max(1.0, self.check_seconds * 2)):
                async with self.replica.connect() as conn:
                    row = (await conn.execute(_LAG_SQL)).one()
        except (OSError, TimeoutError, DBAPIError) as exc:
            self._mark(False, f"unreachable ({type(exc).__name__})", None)
            return self.state
        lag = float(row.lag_seconds)
        if not row.in_recovery:
            self._mark(False, "the replica URL names a primary (not in recovery)", None)
        elif lag > self.max_lag_seconds:
            self._mark(False, f"{lag:.1f} s behind (limit {self.max_lag_seconds:g} s)", lag)
        else:
            self._mark(True, "", lag)
        return self.state

    def _mark(self, usable: bool, reason: str, lag: float | None) -> None:
        if usable != self.state.usable and self.replica is not None:
            if usable:
                log.info("reading from the replica again", extra={"action": "db.replica_up"})
            else:
                log.warning(
                    "heavy reads go to the primary: replica %s",
                    reason,
                    extra={"action": "db.replica_down", "reason": reason},
                )
        self.state.usable = usable
        self.state.reason = reason
        self.state.lag_seconds = lag

    async def open(self) -> None:
        if self.replica is None or self._checker is not None:
            return
        await self.check()
        self._checker = asyncio.create_task(self._watch(), name="cachefront-replica-check")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            await self.check()

    async def aclose(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        if self.replica is not None:
            await self.replica.dispose()
