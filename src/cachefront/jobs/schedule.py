"""This deployment's periodic tasks and job types: every room's, and the platform's upkeep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cachefront.cache.cleanup import delete_expired_entries
from cachefront.cache.quotas import evict_over_quota
from cachefront.config import Settings
from cachefront.jobs.registry import JobRegistry, JobResources, PeriodicTask
from cachefront.metrics.retention import prune_metrics
from cachefront.services import ROOMS

__all__ = ["default_registry"]


async def _cleanup_expired_cache(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    rows = await delete_expired_entries(
        resources.engine, batch_rows=resources.settings.cleanup_batch_rows
    )
    return {"deleted": rows}


async def _evict_over_quota(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    quotas = {ns: int(size) for ns, size in resources.settings.cache_quotas.items()}
    done = await evict_over_quota(resources.engine, quotas)
    return {e.namespace: {"evicted": e.entries, "bytes": e.bytes} for e in done if e.entries}


async def _prune_metrics(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    retention = timedelta(days=resources.settings.metrics_retention_days)
    return await prune_metrics(resources.engine, retention=retention)


def default_registry(settings: Settings) -> JobRegistry:
    """Every room's jobs, in the list's order, and the upkeep of the cache and metrics tables."""
    registry = JobRegistry()
    for room in ROOMS:
        room.register_jobs(registry, settings)
    registry.add_periodic(
        PeriodicTask("cleanup-expired-cache", settings.cleanup_schedule, _cleanup_expired_cache)
    )
    if settings.cache_quotas:
        # Only with quotas set: otherwise a job a minute would do nothing.
        registry.add_periodic(
            PeriodicTask("evict-over-quota", settings.cache_evict_schedule, _evict_over_quota)
        )
    registry.add_periodic(
        PeriodicTask("prune-metrics", settings.prune_metrics_schedule, _prune_metrics)
    )
    return registry
