"""Metrics retention: drop the daily partitions older than the retention window.

Dropping a partition costs the same whatever it holds and leaves nothing to vacuum,
where deleting a day of a million rows would write them all again to the WAL. Days
are whole: a day is dropped once all of it is older than the cut-off, so up to one
day more than the window is kept. The same run makes the partitions of the next days,
so a flush seldom has to make one itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.metrics.partitions import create_partitions, days_between, drop_partitions_before
from cachefront.metrics.tables import PARTITIONED

__all__ = ["DAYS_AHEAD", "prune_metrics"]

log = logging.getLogger(__name__)

# Partitions made ahead of today by each run.
DAYS_AHEAD = 3


async def prune_metrics(
    engine: AsyncEngine, *, retention: timedelta, now: datetime | None = None
) -> dict[str, int]:
    """Drop metrics partitions of days wholly older than ``retention``; rows dropped per table."""
    now = now or datetime.now(UTC)
    cutoff = now - retention
    # A day [d, d+1) is wholly older than the cut-off when midnight d+1 <= cutoff, that
    # is when d is before the cut-off's own day.
    dropped = await drop_partitions_before(engine, cutoff.astimezone(UTC).date())
    deleted = {table: dropped.get(table, 0) for table in PARTITIONED}
    today = now.astimezone(UTC).date()
    await create_partitions(engine, days_between(today, today + timedelta(days=DAYS_AHEAD)))
    log.info("pruned metrics older than %s: %s", cutoff, deleted, extra={"action": "metrics.prune"})
    return deleted
