"""Request and upstream statistics computed in SQL over the stored metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

__all__ = ["ProviderStats", "RouteStats", "Stats", "load_stats"]


QUERIES = load_queries("cachefront.metrics")


class ProviderStats(BaseModel):
    provider: str
    calls: int
    failures: int
    attempts: int
    p50_ms: float | None
    p99_ms: float | None


class RouteStats(BaseModel):
    route: str
    requests: int
    server_errors: int
    p50_ms: float | None
    p99_ms: float | None


class Stats(BaseModel):
    hours: float
    since: datetime
    requests: int
    hit_rate: float | None
    hit_rate_by_tier: dict[str, float]
    requests_by_tier: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    client_error_rate: float | None
    upstream_calls: int
    upstream_by_provider: list[ProviderStats]
    routes: list[RouteStats]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


async def load_stats(engine: AsyncEngine, hours: float) -> Stats:
    """Everything ``GET /v1/admin/stats`` reports, for the last ``hours`` hours."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    params = {"since": since}
    async with engine.connect() as conn:
        summary = (await conn.execute(QUERIES.text("request_stats"), params)).mappings().one()
        tiers = (await conn.execute(QUERIES.text("tier_counts"), params)).mappings().all()
        routes = (await conn.execute(QUERIES.text("route_stats"), params)).mappings().all()
        providers = (await conn.execute(QUERIES.text("upstream_stats"), params)).mappings().all()

    cached = int(summary["cached_requests"])
    requests = int(summary["requests"])
    by_tier = {str(row["tier"]): int(row["requests"]) for row in tiers}
    upstream_total = sum(int(p["calls"]) for p in providers)
    return Stats(
        hours=hours,
        since=since,
        requests=requests,
        hit_rate=_ratio(int(summary["hits"]), cached),
        hit_rate_by_tier={tier: n / cached for tier, n in by_tier.items()} if cached else {},
        requests_by_tier=by_tier,
        p50_ms=_opt(summary["p50_ms"]),
        p95_ms=_opt(summary["p95_ms"]),
        p99_ms=_opt(summary["p99_ms"]),
        error_rate=_ratio(int(summary["server_errors"]), requests),
        client_error_rate=_ratio(int(summary["client_errors"]), requests),
        upstream_calls=upstream_total,
        upstream_by_provider=[ProviderStats(**_plain(p)) for p in providers],
        routes=[RouteStats(**_plain(r)) for r in routes],
    )


def _opt(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _plain(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("p50_ms", "p99_ms"):
        out[key] = _opt(out[key])
    return out
