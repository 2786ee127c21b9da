"""Retention of the history tables: old daily rows out (whole years as partitions), old weeks out.

Every write refreshes the weekly and monthly rollups of the days it touches in the same
transaction, so a daily row is always rolled up already when retention drops it: the
months (kept forever) keep every day's volume, first open and last close. Daily rows go
by whole weeks and months (``daily_cutoff``); a year entirely before the cut-off goes
as its partition, the year the cut-off falls in by ``DELETE``. A table retention empties
by more than half is rewritten (``VACUUM FULL``, as the login role, a fraction of a
second for a year of 1,000 assets) so its size is what it holds, not what it held.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.services.prices.history_partitions import (
    drop_partitions,
    partition_name,
    partition_years,
)
from cachefront.services.prices.history_periods import daily_cutoff, weekly_cutoff

__all__ = ["RetentionCounts", "apply_retention", "compact"]

QUERIES = load_queries("cachefront.services.prices")


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What one retention pass removed, and which tables it rewrote."""

    daily_cutoff: date | None
    weekly_cutoff: date
    daily_rows_deleted: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    weekly_rows_deleted: int = 0
    compacted: list[str] = field(default_factory=list)


async def compact(engine: AsyncEngine, table: str) -> None:
    """Rewrite ``table`` (a name this module made) compactly, as the login role that owns it.

    VACUUM cannot run in a transaction, so the role is switched for the session and
    switched back; a connection that could not be switched back is thrown away rather
    than returned to the pool as the owner.
    """
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        role = (await auto.execute(QUERIES.text("current_role"))).scalar_one()
        await auto.execute(QUERIES.text("reset_role"))
        try:
            await auto.execute(text(QUERIES["compact_table"].format(table=table)))
        finally:
            quoted = '"' + str(role).replace('"', '""') + '"'
            try:
                await auto.execute(text(QUERIES["set_role"].format(role=quoted)))
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                raise


async def _delete(
    engine: AsyncEngine, delete: str, count: str, params: dict[str, date]
) -> tuple[int, int]:
    """Rows the ``delete`` statement removed, and rows the ``count`` one finds after."""
    async with engine.begin() as conn:
        result = await conn.execute(QUERIES.text(delete), {"cutoff": params["cutoff"]})
        left = (await conn.execute(QUERIES.text(count), params)).scalar()
    return int(result.rowcount or 0), int(left or 0)


async def apply_retention(
    engine: AsyncEngine,
    today: date,
    *,
    keep_daily_days: int,
    keep_weekly_days: int,
    keep_all_daily: bool,
) -> RetentionCounts:
    """Drop what the retention settings say is past keeping, as of ``today``."""
    week_cut = weekly_cutoff(today, keep_weekly_days)
    compacted: list[str] = []
    day_cut: date | None = None
    daily_deleted = 0
    dropped: list[str] = []
    if not keep_all_daily:
        day_cut = daily_cutoff(today, keep_daily_days)
        async with engine.connect() as conn:
            years = await partition_years(conn)
        whole = [y for y in years if date(y + 1, 1, 1) <= day_cut]
        gone = await drop_partitions(engine, whole)
        dropped = sorted(gone)
        daily_deleted = sum(gone.values())
        if day_cut.year in years:
            table = partition_name(day_cut.year)
            bounds = {"cutoff": day_cut, "low": day_cut, "high": date(day_cut.year + 1, 1, 1)}
            deleted, left = await _delete(
                engine, "delete_daily_before", "count_daily_between", bounds
            )
            daily_deleted += deleted
            if deleted > left:
                await compact(engine, table)
                compacted.append(table)
    weekly_deleted, weekly_left = await _delete(
        engine, "delete_weekly_before", "count_weekly", {"cutoff": week_cut}
    )
    if weekly_deleted > weekly_left:
        await compact(engine, "price_weekly")
        compacted.append("price_weekly")
    return RetentionCounts(
        daily_cutoff=day_cut,
        weekly_cutoff=week_cut,
        daily_rows_deleted=daily_deleted,
        partitions_dropped=dropped,
        weekly_rows_deleted=weekly_deleted,
        compacted=compacted,
    )
