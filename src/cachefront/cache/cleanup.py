"""Removal of expired rows from the PostgreSQL tier, in small batches readers never wait on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.batches import delete_in_batches

__all__ = ["delete_expired_entries"]

log = logging.getLogger(__name__)

# One batch per transaction. Readers are never blocked (PostgreSQL readers do not wait
# on row locks), and SKIP LOCKED steps around rows a writer is refreshing right now
# instead of queueing behind it; the expires_at index finds the batch without a scan.
DELETE_EXPIRED_BATCH = text(
    """
    WITH doomed AS (
        SELECT namespace, key
          FROM cache_entries
         WHERE expires_at < :now
         ORDER BY expires_at
         LIMIT :batch
           FOR UPDATE SKIP LOCKED
    )
    DELETE FROM cache_entries AS entry
     USING doomed
     WHERE entry.namespace = doomed.namespace AND entry.key = doomed.key
    """
)


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
