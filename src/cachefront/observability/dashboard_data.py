"""What the dashboard shows, in one JSON document: stats, trends, health, storage, jobs, rooms.

It is read every few seconds, so nothing in it passes over a big table: the cache
tier's sizes are the planner's estimate (``cache_sizes.py``), the recent errors are read
from the minute the rollups point at (``recent_errors.py``), and the periodic tasks from
the queue's small tables. The figures that cost more (the slowest calls, the entries
never read, the exact storage) are ``dashboard_details`` and ``load_storage``, which the
page reads once a minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.metrics.attribution import Attribution
from cachefront.metrics.stats import load_stats
from cachefront.observability.cache_sizes import cache_sizes
from cachefront.observability.health import BreakerView, measure_health
from cachefront.observability.recent_errors import load_recent_errors
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures
from cachefront.observability.slowest import load_slowest
from cachefront.observability.tasks import Schedule, load_tasks
from cachefront.observability.trend import read_trend
from cachefront.observability.unread import load_unread

__all__ = ["dashboard_data", "dashboard_details"]

QUERIES = load_queries("cachefront.observability")
# The recent errors the page lists, and its slowest calls.
ERRORS_SHOWN = 50
SLOWEST_SHOWN = 20


async def dashboard_data(
    reads: ReadEngine,
    settings: Settings,
    attribution: Attribution | None,
    upstreams: dict[str, BreakerView],
    *,
    hours: float = 24,
    worker_running: bool | None = None,
    schedules: Iterable[Schedule] = (),
    rooms: FigureReaders | None = None,
) -> dict[str, Any]:
    """The document, read where ``reads`` sends heavy reads: every query here only reads,
    and the route has just flushed this process's metrics (``after_commit``)."""
    now = datetime.now(UTC)
    listed = list(schedules)

    async def query(engine: AsyncEngine) -> dict[str, Any]:
        doc = await _read(
            engine, settings, attribution, upstreams, now, hours, worker_running, listed
        )
        since = now - timedelta(hours=hours)
        figures = await read_room_figures(engine, settings, rooms or FigureReaders(), since, now)
        doc["rooms"] = {name: f.model_dump(mode="json") for name, f in figures.items()}
        return doc

    return await reads.read(query, after_commit=True)


async def dashboard_details(
    reads: ReadEngine, settings: Settings, *, hours: float = 24
) -> dict[str, Any]:
    """The slowest calls of the window and the entries never read: read once a minute."""
    now = datetime.now(UTC)

    async def query(engine: AsyncEngine) -> dict[str, Any]:
        slowest = await load_slowest(engine, hours=hours, limit=SLOWEST_SHOWN, now=now)
        unread = await load_unread(engine, settings.cache_quotas)
        return {
            "generated_at": now.isoformat(),
            "slowest": slowest.model_dump(mode="json"),
            "unread": [n.model_dump(mode="json") for n in unread],
        }

    # The route has just flushed this process's metrics: read where they are replayed.
    return await reads.read(query, after_commit=True)


async def _read(
    engine: AsyncEngine,
    settings: Settings,
    attribution: Attribution | None,
    upstreams: dict[str, BreakerView],
    now: datetime,
    hours: float,
    worker_running: bool | None,
    schedules: list[Schedule],
) -> dict[str, Any]:
    stats = await load_stats(
        engine, hours, attribution=attribution, call_costs=settings.upstream_call_costs, now=now
    )
    health = await measure_health(engine, settings, upstreams, worker_running=worker_running)
    errors = await load_recent_errors(engine, hours=hours, limit=ERRORS_SHOWN, now=now)
    tasks = await load_tasks(
        engine, schedules, history_hours=settings.jobs_retention_hours, runs=1, now=now
    )
    async with engine.connect() as conn:
        trend = await read_trend(conn, now - timedelta(hours=hours), now)
        queue = {str(r[0]): int(r[1]) for r in await conn.execute(QUERIES.text("queue_depth"))}
        sizes, estimated = await cache_sizes(conn)
        size = int((await conn.execute(QUERIES.text("database_size"))).scalar_one())
    return {
        "generated_at": now.isoformat(),
        "stats": stats.model_dump(mode="json"),
        "hours": [h.model_dump(mode="json") for h in trend],
        "health": health.model_dump(mode="json"),
        "storage": {
            "database_bytes": size,
            "estimated": estimated,
            "cache": [{"namespace": n, "entries": e, "bytes": b} for n, e, b in sizes],
        },
        "jobs": queue,
        "errors": errors.model_dump(mode="json"),
        "tasks": tasks.model_dump(mode="json"),
    }
