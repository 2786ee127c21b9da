"""The slowest individual requests and upstream calls of a window, from their raw rows.

The hourly latency histograms say which buckets hold the ``limit`` slowest of each kind
and in which hours they fell; only those hours' raw rows are read, and only rows at or
above that bucket's floor. A window's edge hours count rows outside it too, so when
that leaves fewer than ``limit``, the whole window's rows are read instead.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.metrics.buckets import FLOOR_MS, PER_DOUBLING

__all__ = ["SlowCall", "SlowRequest", "SlowestCalls", "load_slowest"]

QUERIES = load_queries("cachefront.observability")
HOUR = timedelta(hours=1)


class SlowRequest(BaseModel):
    at: datetime
    method: str
    route: str
    status: int
    latency_ms: float
    tier: str | None


class SlowCall(BaseModel):
    at: datetime
    provider: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    attempts: int
    outcome: str


class SlowestCalls(BaseModel):
    since: datetime
    until: datetime
    limit: int
    requests: list[SlowRequest]
    upstream: list[SlowCall]


def _floor_ms(bucket: int) -> float:
    """The lowest latency of ``bucket``, a little under it: the SQL's float rounding
    may put a latency on a bucket's edge in the bucket below."""
    return 0.0 if bucket <= 0 else FLOOR_MS * 2 ** (bucket / PER_DOUBLING) * (1 - 1e-9)


def _plan(rows: list[Any], limit: int) -> tuple[float, list[datetime], bool]:
    """The floor the ``limit`` slowest are at or above, the hours holding them, and
    whether the histograms count ``limit`` at all (else every row is read already)."""
    counts: dict[int, int] = defaultdict(int)
    hours: dict[int, set[datetime]] = defaultdict(set)
    for r in rows:
        counts[int(r["bucket"])] += int(r["n"])
        hours[int(r["bucket"])].add(r["hour"])
    seen, chosen = 0, 0
    for bucket in sorted(counts, reverse=True):
        seen += counts[bucket]
        chosen = bucket
        if seen >= limit:
            break
    found = set().union(*(h for b, h in hours.items() if b >= chosen)) if hours else set()
    return _floor_ms(chosen), sorted(found), seen >= limit


def _ranges(hours: list[datetime], since: datetime, until: datetime) -> list[tuple[Any, Any]]:
    """Runs of consecutive hours as [lo, hi) ranges, clipped to the window."""
    out: list[list[datetime]] = []
    for h in hours:
        if out and out[-1][1] == h:
            out[-1][1] = h + HOUR
        else:
            out.append([h, h + HOUR])
    return [(max(lo, since), min(hi, until)) for lo, hi in out]


async def _slowest(
    conn: AsyncConnection,
    query: str,
    plan: tuple[float, list[datetime], bool],
    since: datetime,
    until: datetime,
    limit: int,
) -> list[Any]:
    floor, hours, enough = plan
    rows: list[Any] = []
    for lo, hi in _ranges(hours, since, until):
        args = {"lo": lo, "hi": hi, "floor": floor, "limit": limit}
        rows.extend((await conn.execute(QUERIES.text(query), args)).mappings().all())
    if enough and len(rows) < limit:
        args = {"lo": since, "hi": until, "floor": 0.0, "limit": limit}
        rows = list((await conn.execute(QUERIES.text(query), args)).mappings().all())
    return sorted(rows, key=lambda r: -float(r["latency_ms"]))[:limit]


async def load_slowest(
    engine: AsyncEngine, *, hours: float = 24, limit: int = 20, now: datetime | None = None
) -> SlowestCalls:
    """The ``limit`` slowest requests and upstream calls of the ``hours`` before ``now``."""
    until = now or datetime.now(UTC)
    since = until - timedelta(hours=hours)
    async with engine.connect() as conn:
        histogram = (
            await conn.execute(
                QUERIES.text("latency_histogram_by_hour"), {"since": since, "until": until}
            )
        ).mappings()
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for row in histogram:
            by_kind[str(row["kind"])].append(row)
        requests = await _slowest(
            conn, "slowest_requests", _plan(by_kind["request"], limit), since, until, limit
        )
        calls = await _slowest(
            conn, "slowest_upstream_calls", _plan(by_kind["upstream"], limit), since, until, limit
        )
    return SlowestCalls(
        since=since,
        until=until,
        limit=limit,
        requests=[
            SlowRequest(
                at=r["ts"],
                method=r["method"],
                route=r["route"],
                status=r["status"],
                latency_ms=round(r["latency_ms"], 3),
                tier=r["cache_tier"],
            )
            for r in requests
        ],
        upstream=[
            SlowCall(
                at=c["ts"],
                provider=c["provider"],
                method=c["method"],
                url=c["url"],
                status=c["status"],
                latency_ms=round(c["latency_ms"], 3),
                attempts=c["attempts"],
                outcome=c["outcome"],
            )
            for c in calls
        ],
    )
