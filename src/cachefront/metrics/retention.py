"""Metrics retention: drop request and upstream metrics older than the retention window."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.batches import delete_in_batches

__all__ = ["prune_metrics"]

log = logging.getLogger(__name__)

# Batched by primary key so each transaction stays short and the recorder's inserts never
# wait; the BRIN index on ts finds the old block ranges without reading recent ones.
# The table names are constants of this module, never input.
_PRUNE_BATCH = {
    table: text(
        f"""
        DELETE FROM {table}
         WHERE id IN (SELECT id FROM {table} WHERE ts < :cutoff LIMIT :batch)
        """  # noqa: S608
    )
    for table in ("request_metrics", "upstream_calls")
}


async def prune_metrics(
    engine: AsyncEngine,
    *,
    retention: timedelta,
    batch_rows: int = 10_000,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete metrics rows older than ``retention``; returns rows deleted per table."""
    cutoff = (now or datetime.now(UTC)) - retention
    deleted: dict[str, int] = {}
    for table, statement in _PRUNE_BATCH.items():
        deleted[table] = await delete_in_batches(
            engine, statement, {"cutoff": cutoff}, batch_rows=batch_rows
        )
    log.info("pruned metrics older than %s: %s", cutoff, deleted, extra={"action": "metrics.prune"})
    return deleted
