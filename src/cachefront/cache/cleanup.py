"""Removal of expired rows from the PostgreSQL tier, in small batches readers never wait on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.batches import delete_in_batches
from cachefront.db.queries import load_queries

__all__ = ["delete_expired_entries"]

log = logging.getLogger(__name__)

# See cache/sql/queries.sql: one short transaction per batch, SKIP LOCKED.
DELETE_EXPIRED_BATCH = load_queries("cachefront.cache").text("delete_expired_batch")


async def delete_expired_entries(
    engine: AsyncEngine, *, batch_rows: int = 5000, now: datetime | None = None
) -> int:
    """Delete every entry past its ``expires_at``; returns how many rows went."""
    cutoff = now or datetime.now(UTC)
    total = await delete_in_batches(
        engine, DELETE_EXPIRED_BATCH, {"now": cutoff}, batch_rows=batch_rows
    )
    log.info(
        "deleted %d expired cache rows", total, extra={"action": "cache.cleanup", "rows": total}
    )
    return total
