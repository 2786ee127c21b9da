"""What the dashboard shows, in one JSON document: stats, trends, health, storage, jobs, rooms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.metrics.attribution import Attribution
from cachefront.metrics.buckets import bucket_value
from cachefront.metrics.stats import load_stats
from cachefront.observability.health import BreakerView, measure_health
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures

__all__ = ["dashboard_data"]

QUERIES = load_queries("cachefront.observability")


def _value(bucket: Any) -> float | None:
    return None if bucket is None else round(bucket_value(int(bucket)), 3)


async def dashboard_data(
    reads: ReadEngine,
    settings: Settings,
    attribution: Attribution | None,
    upstreams: dict[str, BreakerView],
    *,
    hours: float = 24,
    worker_running: bool | None = None,
    rooms: FigureReaders | None = None,
) -> dict[str, Any]:
    """The document, read where ``reads`` sends heavy reads: every query here only reads,
    and the route has just flushed this process's metrics (``after_commit``)."""
    now = datetime.now(UTC)

    async def query(engine: AsyncEngine) -> dict[str, Any]:
        doc = await _read(engine, settings, attribution, upstreams, now, hours, worker_running)
        since = now - timedelta(hours=hours)
        figures = await read_room_figures(engine, settings, rooms or FigureReaders(), since, now)
        doc["rooms"] = {name: f.model_dump(mode="json") for name, f in figures.items()}
        return doc

    return await reads.read(query, after_commit=True)


async def _read(
    engine: AsyncEngine,
    settings: Settings,
    attribution: Attribution | None,
    upstreams: dict[str, BreakerView],
    now: datetime,
    hours: float,
    worker_running: bool | None,
) -> dict[str, Any]:
    window = {"since": now - timedelta(hours=hours), "until": now}
    stats = await load_stats(
        engine, hours, attribution=attribution, call_costs=settings.upstream_call_costs, now=now
    )
    health = await measure_health(engine, settings, upstreams, worker_running=worker_running)
    async with engine.connect() as conn:
        trend = (await conn.execute(QUERIES.text("hourly_trend"), window)).mappings().all()
        pct = (await conn.execute(QUERIES.text("hourly_percentiles"), window)).mappings().all()
        queue = {str(r[0]): int(r[1]) for r in await conn.execute(QUERIES.text("queue_depth"))}
        cache = [
            {"namespace": str(r[0]), "entries": int(r[1]), "bytes": int(r[2])}
            for r in await conn.execute(QUERIES.text("cache_sizes"))
        ]
        size = int((await conn.execute(QUERIES.text("database_size"))).scalar_one())
    by_hour = {r["hour"]: r for r in pct}
    hours_out = []
    for row in trend:
        p = by_hour.get(row["hour"])
        cached = int(row["cached"] or 0)
        hours_out.append(
            {
                "t": int(row["hour"].timestamp()),
                "requests": int(row["requests"] or 0),
                "hit_rate": (int(row["hits"] or 0) / cached) if cached else None,
                "server_errors": int(row["server_errors"] or 0),
                "p50_ms": _value(p["p50_bucket"]) if p else None,
                "p95_ms": _value(p["p95_bucket"]) if p else None,
                "p99_ms": _value(p["p99_bucket"]) if p else None,
            }
        )
    return {
        "generated_at": now.isoformat(),
        "stats": stats.model_dump(mode="json"),
        "hours": hours_out,
        "health": health.model_dump(mode="json"),
        "storage": {"database_bytes": size, "cache": cache},
        "jobs": queue,
    }
