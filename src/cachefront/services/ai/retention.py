"""Retention of the AI room's tables: old ledger rows and the steps of long-finished generations.

The periodic task ``ai-retention`` (daily) deletes ``ai_usage`` rows older than
``CACHEFRONT_AI_USAGE_KEEP_DAYS`` and the ``ai_generation_steps`` of jobs finished more
than ``CACHEFRONT_AI_GENERATION_KEEP_DAYS`` ago, in batches of
``CACHEFRONT_CLEANUP_BATCH_ROWS``, one transaction each, so neither table is locked long
and a large first pass does not hold one huge transaction. It acts as the service: the
rows of every caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.jobs.registry import JobResources, PeriodicTask
from cachefront.services.ai.quota_postgres import QUERIES
from cachefront.services.ai.settings import AiSettings

__all__ = ["RETENTION_TASK", "delete_in_batches", "retention_task"]

RETENTION_TASK = "ai-retention"
# After midnight UTC, away from the other rooms' daily tasks.
_DAILY = "37 0 * * *"


async def delete_in_batches(
    engine: AsyncEngine, statement: str, cutoff: datetime, batch: int
) -> int:
    """Run the named delete until a batch comes back short; how many rows went."""
    deleted = 0
    with acting_as_service():
        while True:
            async with engine.begin() as conn:
                result = await conn.execute(
                    QUERIES.text(statement), {"cutoff": cutoff, "batch": batch}
                )
            deleted += result.rowcount
            if result.rowcount < batch:
                return deleted


async def _retention(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    own = resources.settings.room(AiSettings)
    batch = resources.settings.cleanup_batch_rows
    now = datetime.now(UTC)
    usage = await delete_in_batches(
        resources.engine,
        "delete_old_usage",
        now - timedelta(days=own.ai_usage_keep_days),
        batch,
    )
    steps = await delete_in_batches(
        resources.engine,
        "delete_old_generation_steps",
        now - timedelta(days=own.ai_generation_keep_days),
        batch,
    )
    return {"usage_rows": usage, "generation_steps": steps}


def retention_task() -> PeriodicTask:
    return PeriodicTask(RETENTION_TASK, _DAILY, _retention)
