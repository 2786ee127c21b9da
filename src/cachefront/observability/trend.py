"""The hourly trend of a window: requests, hit rate, 5xx and latency percentiles per hour.

Read from the hourly rollups and histograms (a few hundred rows for 7 days). Every hour
of the window is listed, an hour without traffic with zero counts and no rate or
percentile (there is nothing to take them from), so a chart's time axis has no holes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.metrics.buckets import bucket_value

__all__ = ["Hour", "Trend", "load_trend", "read_trend"]

QUERIES = load_queries("cachefront.observability")
HOUR = timedelta(hours=1)


class Hour(BaseModel):
    # The hour's start, epoch seconds (what the dashboard's charts take).
    t: int
    requests: int
    hit_rate: float | None
    server_errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Trend(BaseModel):
    since: datetime
    until: datetime
    hours: list[Hour]


def _value(bucket: Any) -> float | None:
    return None if bucket is None else round(bucket_value(int(bucket)), 3)


async def read_trend(conn: AsyncConnection, since: datetime, until: datetime) -> list[Hour]:
    """Every hour from the one holding ``since`` to the one holding ``until``."""
    window = {"since": since, "until": until}
    trend = {
        r["hour"]: r for r in (await conn.execute(QUERIES.text("hourly_trend"), window)).mappings()
    }
    pct = {
        r["hour"]: r
        for r in (await conn.execute(QUERIES.text("hourly_percentiles"), window)).mappings()
    }
    out = []
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < until:
        row, p = trend.get(hour), pct.get(hour)
        cached = int(row["cached"] or 0) if row else 0
        out.append(
            Hour(
                t=int(hour.timestamp()),
                requests=int(row["requests"] or 0) if row else 0,
                hit_rate=round(int(row["hits"] or 0) / cached, 6) if row and cached else None,
                server_errors=int(row["server_errors"] or 0) if row else 0,
                p50_ms=_value(p["p50_bucket"]) if p else None,
                p95_ms=_value(p["p95_bucket"]) if p else None,
                p99_ms=_value(p["p99_bucket"]) if p else None,
            )
        )
        hour += HOUR
    return out


async def load_trend(
    engine: AsyncEngine, *, hours: float = 168, now: datetime | None = None
) -> Trend:
    """The trend of the ``hours`` before ``now`` (default: 7 days)."""
    until = now or datetime.now(UTC)
    since = until - timedelta(hours=hours)
    async with engine.connect() as conn:
        listed = await read_trend(conn, since, until)
    return Trend(since=since, until=until, hours=listed)
