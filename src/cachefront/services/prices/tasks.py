"""Prices jobs: the periodic refresh, partitions ahead, retention, and ``prices-backfill``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from cachefront.config import Settings
from cachefront.jobs.registry import (
    JobRegistry,
    JobResources,
    JobResult,
    JobType,
    PeriodicTask,
    Progress,
)
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.settings import PricesSettings

__all__ = [
    "BACKFILL_JOB",
    "PARTITIONS_TASK",
    "REFRESH_TASK",
    "RETENTION_TASK",
    "BackfillParams",
    "refresh_schedule",
    "register_prices_jobs",
]

REFRESH_TASK = "refresh-prices"
PARTITIONS_TASK = "prices-partitions-ahead"
RETENTION_TASK = "prices-retention"
BACKFILL_JOB = "prices-backfill"
# After midnight UTC, when yesterday's daily candles are complete.
_DAILY = "17 0 * * *"


def refresh_schedule(seconds: float) -> str:
    """A cron schedule running about every ``seconds`` (a sixth field counts seconds)."""
    whole = max(1, round(seconds))
    if whole < 60:
        step = next(s for s in range(whole, 61) if 60 % s == 0)
        return f"* * * * * */{step}"
    minutes = max(1, round(whole / 60))
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    # "*/90" in the minute field would mean "at minute 0", i.e. hourly: count hours.
    hours = round(minutes / 60)
    if hours >= 24:
        return "0 0 * * *"
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


class BackfillParams(BaseModel):
    """Params of ``prices-backfill``: years of daily candles, of some symbols or of all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    years: int = Field(default=10, ge=1, le=50)
    symbols: list[str] | None = Field(default=None, min_length=1, max_length=10_000)


async def _refresh(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    report = await resources.service(PricesService).refresh()
    return {
        "priced": report.priced,
        "calls": report.calls,
        "closed": report.closed,
        "unavailable": report.unavailable,
        "failed": report.failed,
    }


async def _partitions(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    ahead = resources.settings.room(PricesSettings).prices_partitions_ahead_years
    through = datetime.now(UTC).year + ahead
    store = resources.service(PricesService).history_store
    await store.ensure_partitions(through)
    return {"through_year": through}


async def _retention(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    store = resources.service(PricesService).history_store
    result = await store.apply_retention(datetime.now(UTC).date())
    return {"result": result if isinstance(result, dict) else str(result)}


async def _backfill(
    resources: JobResources, params: BackfillParams, progress: Progress
) -> JobResult:
    service = resources.service(PricesService)

    async def advance(done: int, total: int) -> None:
        await progress(done / total if total else 1.0)

    report = await service.backfill(params.symbols, years=params.years, advance=advance)
    summary = report.summary()
    return JobResult(orjson.dumps(summary), "application/json", "prices_backfill.json", summary)


def register_prices_jobs(registry: JobRegistry, settings: Settings) -> None:
    """The prices room's periodic tasks and its backfill job type."""
    own = settings.room(PricesSettings)
    registry.add_periodic(
        PeriodicTask(REFRESH_TASK, refresh_schedule(own.prices_refresh_seconds), _refresh)
    )
    registry.add_periodic(PeriodicTask(PARTITIONS_TASK, _DAILY, _partitions))
    registry.add_periodic(PeriodicTask(RETENTION_TASK, _DAILY, _retention))
    registry.add_job_type(JobType(BACKFILL_JOB, BackfillParams, _backfill))
