"""The daily table's yearly partitions: which exist, creating missing ones, dropping old ones.

DDL runs as the login role, the owner of the tables (``SET LOCAL ROLE NONE`` for that
transaction only), never as ``cachefront_app``: the app role has no CREATE on any
schema and cannot create, alter or drop a table, whatever a query it runs says.
Partition DDL of every process is serialised by a transaction-level advisory lock, and
``CREATE TABLE IF NOT EXISTS`` makes a second creator a no-op, so two processes
creating the same year at once both succeed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.db.queries import load_queries

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "create_partitions",
    "drop_partitions",
    "partition_name",
    "partition_years",
]

QUERIES = load_queries("cachefront.services.prices")
_YEAR = re.compile(r"^price_daily_(\d{4})$")
# Years a partition may be made for: candles before 1900 or after 2200 are bad input.
MIN_YEAR = 1900
MAX_YEAR = 2200


def partition_name(year: int) -> str:
    return f"price_partitions.price_daily_{year}"


async def partition_years(conn: AsyncConnection) -> set[int]:
    """The years the daily table has a partition for."""
    names = (await conn.execute(QUERIES.text("daily_partitions"))).scalars()
    return {int(match.group(1)) for name in names if (match := _YEAR.match(name))}


def _checked(years: Iterable[int]) -> list[int]:
    wanted = sorted(set(years))
    bad = [y for y in wanted if not MIN_YEAR <= y <= MAX_YEAR]
    if bad:
        raise ValueError(f"no partition for year(s) {bad}: years run {MIN_YEAR} to {MAX_YEAR}")
    return wanted


async def create_partitions(engine: AsyncEngine, years: Iterable[int]) -> list[str]:
    """Create the partitions missing among ``years``; the names of those this call made."""
    wanted = _checked(years)
    if not wanted:
        return []
    async with engine.begin() as conn:
        await conn.execute(QUERIES.text("lock_partitions"))
        await conn.execute(QUERIES.text("act_as_login_role"))
        existing = await partition_years(conn)
        made: list[str] = []
        for year in wanted:
            if year in existing:
                continue
            # The year is an int checked above: nothing else reaches the DDL text.
            ddl = QUERIES["create_daily_partition"].format(year=year, next_year=year + 1)
            await conn.execute(text(ddl))
            made.append(partition_name(year))
        return made


async def drop_partitions(engine: AsyncEngine, years: Iterable[int]) -> dict[str, int]:
    """Drop the partitions of ``years`` that exist; rows each held, by partition name."""
    wanted = _checked(years)
    if not wanted:
        return {}
    dropped: dict[str, int] = {}
    async with engine.begin() as conn:
        await conn.execute(QUERIES.text("lock_partitions"))
        await conn.execute(QUERIES.text("act_as_login_role"))
        existing = await partition_years(conn)
        for year in wanted:
            if year not in existing:
                continue
            name = partition_name(year)
            rows = (await conn.execute(text(QUERIES["table_rows"].format(table=name)))).scalar()
            await conn.execute(text(QUERIES["drop_daily_partition"].format(year=year)))
            dropped[name] = int(rows or 0)
    return dropped
