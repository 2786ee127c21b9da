"""The metrics tables' daily partitions: made ahead of the days written, dropped past retention.

Both go through the SECURITY DEFINER functions of migration 0006, so the app role
needs no DDL right and the SQL text never carries a table name built here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

__all__ = ["create_partitions", "days_between", "drop_partitions_before"]

QUERIES = load_queries("cachefront.metrics")


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def create_partitions(engine: AsyncEngine, days: Iterable[date]) -> int:
    """Make the partitions missing for ``days`` in every metrics table; how many were made."""
    made = 0
    async with engine.begin() as conn:
        for day in sorted(set(days)):
            made += int(
                (await conn.execute(QUERIES.text("create_partitions"), {"day": day})).scalar_one()
            )
    return made


async def drop_partitions_before(engine: AsyncEngine, cutoff: date) -> dict[str, int]:
    """Drop every metrics partition of a day before ``cutoff``; rows dropped per table."""
    async with engine.begin() as conn:
        rows = (
            await conn.execute(QUERIES.text("drop_partitions_before"), {"cutoff": cutoff})
        ).all()
    dropped: dict[str, int] = {}
    for _partition, parent, count in rows:
        dropped[parent] = dropped.get(parent, 0) + int(count)
    return dropped
