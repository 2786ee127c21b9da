"""The read engine: heavy reads go to a streaming replica while it answers and keeps up.

``ReadEngine.engine`` is the engine a room runs its heavy reads on (stats, history
ranges, listings): the replica's while the last check found it reachable, in recovery
and no more than ``max_lag_seconds`` behind, the primary's otherwise. A background
task checks every ``check_seconds``; a read that fails on the replica with a
connection error marks it down at once and runs again on the primary (``read``), so
a replica that goes away costs one failed attempt, not an error to the caller.
Without a replica URL it is the primary's engine, with no task at all.

A read that must see what was just committed (the stats route reads the metrics it
has just flushed) passes ``after_commit=True``: the replica is used only once it has
replayed the primary's WAL through the position it was flushed to when the read began
(``replayed``), which a streaming replica does in milliseconds; otherwise that read
runs on the primary. Other heavy reads accept the replica as it is, at most
``max_lag_seconds`` behind. Writes, and reads a write depends on, never come here.

The lag is measured against the primary, not only by the replica: each check reads
the primary's flushed WAL position and keeps it with the time it read it, then asks
the replica how far it has replayed; the replica is behind by the time since the
first kept position it has not reached. The replica's own view alone cannot tell a
replica cut off from its primary (nothing received, so nothing waiting for replay)
from a caught-up one, and would keep serving reads that fall further behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.lifecycle import AsyncResource

__all__ = ["PrimaryPositions", "ReadEngine", "ReplicaState", "lsn_number"]

log = logging.getLogger(__name__)

_QUERIES = load_queries("cachefront.db")
_LAG_SQL = _QUERIES.text("replica_lag")
_FLUSH_LSN_SQL = _QUERIES.text("primary_flush_lsn")
_REPLAYED_SQL = _QUERIES.text("replayed_through")
# How long a read that must see the latest commits waits for the replica to replay
# them before it runs on the primary instead: replay normally takes a few
# milliseconds, and a read slower than that on the primary is cheaper than waiting.
_REPLAY_WAIT_SECONDS = 0.5
# The replica's replay position is asked again after this, doubling up to the cap.
_REPLAY_POLL_SECONDS = (0.002, 0.05)
# How long the primary's positions are kept, at least, for the lag measure; past the
# oldest kept one the lag reads as at least its age, which is past any sane limit.
_KEEP_POSITIONS_SECONDS = 60.0


def lsn_number(lsn: str) -> int:
    """A ``pg_lsn`` as PostgreSQL prints it (``16/B374D848``) as one comparable number."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class PrimaryPositions:
    """The primary's flushed WAL positions, each with the (monotonic) time it was read."""

    def __init__(self, keep_seconds: float = _KEEP_POSITIONS_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._seen: deque[tuple[float, int]] = deque()

    def add(self, at: float, position: int) -> None:
        if not self._seen or position > self._seen[-1][1]:
            self._seen.append((at, position))
        # Keep one position older than the window: the lag of a replica stuck before it.
        while len(self._seen) > 2 and self._seen[1][0] < at - self.keep_seconds:
            self._seen.popleft()

    def lag(self, now: float, replayed: int) -> float:
        """Seconds since the primary first stood past ``replayed``: 0 if it never has."""
        for at, position in self._seen:
            if position > replayed:
                return max(0.0, now - at)
        return 0.0


T = TypeVar("T")


# SQLSTATE of a query a hot standby cancelled because replay had to remove what it read
# ("canceling statement due to conflict with recovery"), and of a recovery conflict
# that ended the whole session (a dropped database, say): the first is the query's bad
# luck, not the replica's state.
_RECOVERY_CONFLICT = "40001"


def _recovery_conflict(exc: DBAPIError) -> bool:
    return (
        getattr(exc.orig, "sqlstate", None) == _RECOVERY_CONFLICT and not exc.connection_invalidated
    )


def _lost(exc: DBAPIError) -> bool:
    """Whether a driver error means the replica is gone (not a fault of the query)."""
    return isinstance(exc, OperationalError) or exc.connection_invalidated


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
        self.positions = PrimaryPositions(max(_KEEP_POSITIONS_SECONDS, 4 * max_lag_seconds))
        self._checker: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The engine for the next heavy read."""
        if self.replica is not None and self.state.usable:
            return self.replica
        return self.primary

    async def read(
        self, query: Callable[[AsyncEngine], Awaitable[T]], *, after_commit: bool = False
    ) -> T:
        """``query(engine)`` on the chosen engine; again on the primary if the replica fails
        to connect or drops the connection midway.

        ``after_commit``: on the replica only once it has replayed every commit the
        primary had made when the read began (waiting up to ``_REPLAY_WAIT_SECONDS``).
        """
        engine = self.engine
        if engine is self.primary:
            return await query(engine)
        if after_commit and not await self.replayed(_REPLAY_WAIT_SECONDS):
            return await query(self.primary)
        try:
            return await query(engine)
        except (OperationalError, DBAPIError) as exc:
            if _recovery_conflict(exc):
                # The replica is fine: its replay needed rows this read still saw. The
                # read runs on the primary; the next ones try the replica again.
                log.info("a replica read gave way to replay; read on the primary")
                return await query(self.primary)
            if not _lost(exc):
                raise
            self._mark(False, f"a read failed ({type(exc.orig).__name__})", None)
            return await query(self.primary)

    async def replayed(self, wait_seconds: float) -> bool:
        """Whether heavy reads see, within ``wait_seconds``, every commit the primary has
        made so far: at once while they go to the primary; on the replica once it has
        replayed that far. False if it has not by then, or if it failed (marked down)."""
        replica = self.replica
        if replica is None or not self.state.usable:
            return True
        async with self.primary.connect() as conn:
            lsn = (await conn.execute(_FLUSH_LSN_SQL)).scalar_one()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        pause, cap = _REPLAY_POLL_SECONDS
        try:
            async with replica.connect() as conn:
                while True:
                    if (await conn.execute(_REPLAYED_SQL, {"lsn": lsn})).scalar_one():
                        return True
                    # Each look is a snapshot of its own: end the one autobegin opened.
                    await conn.rollback()
                    if loop.time() + pause > deadline:
                        return False
                    await asyncio.sleep(pause)
                    pause = min(cap, pause * 2)
        except (OperationalError, DBAPIError) as exc:
            if not _lost(exc):
                raise
            self._mark(False, f"a replay check failed ({type(exc.orig).__name__})", None)
            return False

    async def check(self) -> ReplicaState:
        """Ask the replica whether it is one, and how far behind it is; record the answer."""
        if self.replica is None:
            self._mark(False, "no replica configured", None)
            return self.state
        loop = asyncio.get_running_loop()
        await self._read_primary_position(loop.time())
        try:
            async with asyncio.timeout(max(1.0, self.check_seconds * 2)):
                async with self.replica.connect() as conn:
                    row = (await conn.execute(_LAG_SQL)).one()
        except (OSError, TimeoutError, DBAPIError) as exc:
            self._mark(False, f"unreachable ({type(exc).__name__})", None)
            return self.state
        lag = float(row.lag_seconds)
        if row.replay_lsn is not None:
            lag = max(lag, self.positions.lag(loop.time(), lsn_number(str(row.replay_lsn))))
        if not row.in_recovery:
            self._mark(False, "the replica URL names a primary (not in recovery)", None)
        elif lag > self.max_lag_seconds:
            self._mark(False, f"{lag:.1f} s behind (limit {self.max_lag_seconds:g} s)", lag)
        else:
            self._mark(True, "", lag)
        return self.state

    async def _read_primary_position(self, at: float) -> None:
        """Keep the primary's flushed position; a primary that does not answer now leaves
        the replica's own measure alone (the primary's trouble shows elsewhere)."""
        try:
            async with asyncio.timeout(max(1.0, self.check_seconds * 2)):
                async with self.primary.connect() as conn:
                    lsn = (await conn.execute(_FLUSH_LSN_SQL)).scalar_one()
        except (OSError, TimeoutError, DBAPIError) as exc:
            log.debug("primary position unread: %s", type(exc).__name__)
            return
        self.positions.add(at, lsn_number(str(lsn)))

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
