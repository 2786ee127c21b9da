"""Metrics retention: drop request and upstream metrics older than the retention window."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.batches import delete_in_batches
from cachefront.db.queries import load_queries

__all__ = ["prune_metrics"]

log = logging.getLogger(__name__)

# One statement per table, batched by primary key (see metrics/sql/queries.sql).
_QUERIES = load_queries("cachefront.metrics")
_PRUNE_BATCH = {
    "request_metrics": _QUERIES.text("prune_request_metrics"),
    "upstream_calls": _QUERIES.text("prune_upstream_calls"),
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
