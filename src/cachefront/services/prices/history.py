"""Daily candles and their weekly and monthly rollups: write, read, what is stored, upkeep.

``HistoryStore`` is the one door to the history tables. A write is three statements in
one transaction: the daily upsert (arrays of the bars, one round trip for ten years),
then the refresh of the weeks and of the months those bars fall in, computed in SQL
from the daily rows (first open, last close, high max, low min, volume sum, last
adjusted close). Reads are one range scan of a primary key. Partitions for the years a
write needs are made on the way; retention and sizes are delegated to their modules.

Range reads (``read``) go where the platform's read engine sends heavy reads: a
streaming replica while it keeps up, the primary otherwise. Everything a write
depends on (``stored_span``, ``missing``) reads the primary. ``reads_caught_up``
waits (up to ``_REPLAY_WAIT_SECONDS``) for the replica to replay the writes made so
far, so the range read that follows a backfill's invalidation finds the new bars
rather than caching the replica's older view; past that wait, the replica is at most
its lag limit behind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from psycopg.errors import CheckViolation
from sqlalchemy import text
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.services.prices.history_partitions import create_partitions
from cachefront.services.prices.history_periods import missing_ranges
from cachefront.services.prices.history_retention import RetentionCounts, apply_retention
from cachefront.services.prices.models import Candle, Resolution

__all__ = ["PRICE_TABLES", "HistoryStore"]

QUERIES = load_queries("cachefront.services.prices")
PRICE_TABLES = ("price_assets", "price_daily", "price_weekly", "price_monthly")
_READS = {
    Resolution.DAY: "read_daily",
    Resolution.WEEK: "read_weekly",
    Resolution.MONTH: "read_monthly",
}
_EARLIEST = date(1900, 1, 1)
# The rollups a write refreshes, in order: (table, unit), filled into one template so
# the weeks and the months are computed by the same statement. The unit is date_trunc's
# field and the name of the table's key column.
_ROLLUPS = (("price_weekly", "week"), ("price_monthly", "month"))
_REFRESHES = tuple(
    text(QUERIES["refresh_rollup"].format(table=table, unit=unit)) for table, unit in _ROLLUPS
)
# How long ``reads_caught_up`` waits at most for the replica (see the module doc).
_REPLAY_WAIT_SECONDS = 1.0


def _day_of(candle: Candle) -> date:
    start = candle.start
    if start.tzinfo is not None:
        start = start.astimezone(UTC)
    return start.date()


def _checked(candles: Sequence[Candle]) -> dict[date, Candle]:
    """The bars by day (a later one for a day wins), refusing values no chart can draw."""
    by_day: dict[date, Candle] = {}
    for candle in candles:
        day = _day_of(candle)
        values = (candle.open, candle.high, candle.low, candle.close, candle.volume)
        if not all(math.isfinite(v) for v in values) or (
            candle.adj_close is not None and not math.isfinite(candle.adj_close)
        ):
            raise ValueError(f"candle of {day} has a value that is not a finite number")
        if candle.volume < 0 or min(candle.open, candle.high, candle.low, candle.close) < 0:
            raise ValueError(f"candle of {day} has a negative price or volume")
        by_day[day] = candle
    return by_day


def _candles(result: Result[Any]) -> list[Candle]:
    return [
        Candle(
            start=datetime.combine(row.start, time(), UTC),
            open=row.open,
            high=row.high,
            low=row.low,
            close=row.close,
            volume=row.volume,
            adj_close=row.adj_close,
        )
        for row in result
    ]


class HistoryStore:
    """The daily, weekly and monthly candle tables over an async engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        keep_daily_days: int,
        keep_weekly_days: int,
        keep_all_daily: bool,
        reads: ReadEngine | None = None,
    ) -> None:
        self._engine = engine
        # Without a read engine, range reads run on ``engine`` too.
        self._reads = reads or ReadEngine(engine)
        self.keep_daily_days = keep_daily_days
        self.keep_weekly_days = keep_weekly_days
        self.keep_all_daily = keep_all_daily
        # Years known to have a partition; forgotten when a write finds one gone
        # (another process's retention may drop a year this one saw).
        self._years: set[int] = set()

    async def write_daily(self, asset_id: int, candles: Sequence[Candle]) -> int:
        """Store daily bars (replacing stored ones of the same days); the bars written."""
        by_day = _checked(candles)
        if not by_day:
            return 0
        days = sorted(by_day)
        years = {d.year for d in days}
        if not years <= self._years:
            await self._ensure_years(years)
        bars = [by_day[d] for d in days]
        params = {
            "asset_id": asset_id,
            "days": days,
            "volumes": [b.volume for b in bars],
            "opens": [b.open for b in bars],
            "highs": [b.high for b in bars],
            "lows": [b.low for b in bars],
            "closes": [b.close for b in bars],
            "adj_closes": [b.adj_close for b in bars],
        }
        try:
            await self._write(params)
        except IntegrityError as error:
            if not isinstance(error.orig, CheckViolation):
                raise
            # "no partition of relation found for row": a year dropped meanwhile.
            self._years.clear()
            await self._ensure_years(years)
            await self._write(params)
        return len(days)

    async def _write(self, params: dict[str, object]) -> None:
        rollup = {"asset_id": params["asset_id"], "days": params["days"]}
        async with self._engine.begin() as conn:
            await conn.execute(QUERIES.text("upsert_daily"), params)
            for refresh in _REFRESHES:
                await conn.execute(refresh, rollup)

    async def _ensure_years(self, years: set[int]) -> None:
        await create_partitions(self._engine, years)
        self._years |= years

    async def read(
        self, asset_id: int, resolution: Resolution, start: date | None, end: date
    ) -> list[Candle]:
        """Bars of ``resolution`` starting from ``start`` (None: the first) through ``end``.

        A weekly bar starts on its Monday, a monthly one on the 1st; a bar is included
        when its start is in ``[start, end]``.
        """
        name = _READS.get(resolution)
        if name is None:
            raise ValueError(f"{resolution.value} candles are not stored; stored are 1d, 1wk, 1mo")
        statement = QUERIES.text(name)
        params = {"asset_id": asset_id, "start": start or _EARLIEST, "end": end}

        async def query(engine: AsyncEngine) -> list[Candle]:
            async with engine.connect() as conn:
                return _candles(await conn.execute(statement, params))

        return await self._reads.read(query)

    async def reads_caught_up(self) -> bool:
        """Wait until range reads see every write made so far (at once without a replica);
        False if the replica had not replayed them within ``_REPLAY_WAIT_SECONDS``."""
        return await self._reads.replayed(_REPLAY_WAIT_SECONDS)

    async def stored_span(self, asset_id: int) -> tuple[date, date] | None:
        """The first and last day of ``asset_id``'s stored history, at any resolution."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(QUERIES.text("stored_span"), {"asset_id": asset_id})).one()
        if row.first is None:
            return None
        return row.first, row.last

    async def missing(self, asset_id: int, start: date, end: date) -> list[tuple[date, date]]:
        """The ``[from, to)`` ranges of ``[start, end)`` not stored yet (see ``missing_ranges``)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    QUERIES.text("monthly_coverage"),
                    {"asset_id": asset_id, "start": start, "end": end},
                )
            ).all()
        return missing_ranges([(r.month, r.first, r.last) for r in rows], start, end)

    async def ensure_partitions(self, through_year: int) -> list[str]:
        """Create the daily partitions missing from this year (UTC) through ``through_year``;
        the names this call made. Safe to run from several processes at once.

        The periodic task's job, so a new year's first write finds its partition; years
        before this one are made on demand by the writes that need them.
        """
        wanted = set(range(datetime.now(UTC).year, through_year + 1))
        made = await create_partitions(self._engine, wanted)
        self._years |= wanted
        return made

    async def apply_retention(self, today: date) -> RetentionCounts:
        """Drop daily rows past ``keep_daily_days`` (unless all are kept) and weekly rows past
        ``keep_weekly_days``; monthly rows stay forever."""
        counts = await apply_retention(
            self._engine,
            today,
            keep_daily_days=self.keep_daily_days,
            keep_weekly_days=self.keep_weekly_days,
            keep_all_daily=self.keep_all_daily,
        )
        self._years.clear()
        return counts

    async def sizes(self) -> dict[str, int]:
        """Bytes of each prices table on disk, indexes included, partitions summed."""
        async with self._engine.connect() as conn:
            result = await conn.execute(QUERIES.text("table_sizes"), {"tables": list(PRICE_TABLES)})
            sizes = {row.name: int(row.bytes) for row in result}
        return {name: sizes.get(name, 0) for name in PRICE_TABLES}
