"""Request, upstream, room and cost statistics for a window, summed in SQL from the rollups.

The hourly and per-minute rollups give the counts (exact, to the minute of the
window's start: whole hours from the first, the edges from the second);
the hourly and per-minute histograms give the percentiles the same way (within
``RELATIVE_ERROR`` of the order statistic, over the minutes of the window; see
``metrics/buckets.py``). The
arithmetic on the few hundred rows the queries return (rates, rooms, costs) is done
here.

Costs are estimates from the per-provider price per call (``upstream_call_costs``, a
price for each attempt sent). What the cache saved counts the hits that did not call
an upstream: each hit on a room's routes saved as many calls as a miss of that room
made on average in the window (one when it had no miss), each at the room's average
price per call.

A room that records what its calls really cost (``cost_reader`` in the room contract:
an AI provider bills per token, so calls differ a hundredfold) replaces both estimates
for its providers: their cost is what its records sum to in the window, and the room's
saving what its records say the hits saved. ``cost_basis`` says which a figure is.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.metrics.attribution import Attribution
from cachefront.metrics.buckets import RELATIVE_ERROR, bucket_value
from cachefront.rooms import MeasuredCost

__all__ = [
    "HIT_TIERS",
    "Percentiles",
    "ProviderStats",
    "RoomStats",
    "RouteStats",
    "Stats",
    "load_stats",
]

log = logging.getLogger(__name__)

QUERIES = load_queries("cachefront.metrics")
# A hit is any answer that did not wait on an upstream.
HIT_TIERS = frozenset({"memory", "redis", "db", "stale"})
MISS_TIER = "upstream"


class Percentiles(BaseModel):
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class RouteStats(BaseModel):
    route: str
    room: str | None
    requests: int
    hits: int
    hit_rate: float | None
    server_errors: int
    error_rate: float | None
    upstream_calls: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ProviderStats(BaseModel):
    provider: str
    room: str | None
    calls: int
    failures: int
    failure_rate: float | None
    attempts: int
    calls_by_outcome: dict[str, int]
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    price_per_call: float
    cost: float
    # "per_call" (the setting's price times the attempts) or "measured" (the room's records).
    cost_basis: str
    tokens: int | None


class RoomStats(BaseModel):
    room: str
    requests: int
    hits: int
    hit_rate: float | None
    server_errors: int
    error_rate: float | None
    upstream_calls: int
    upstream_cost: float
    calls_saved: float
    cost_saved: float


class Stats(BaseModel):
    hours: float
    since: datetime
    until: datetime
    requests: int
    cached_requests: int
    hits: int
    hit_rate: float | None
    hit_rate_by_tier: dict[str, float]
    requests_by_tier: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cached: Percentiles
    uncached: Percentiles
    # The largest relative error of a percentile read from the histograms.
    percentile_error: float
    error_rate: float | None
    client_error_rate: float | None
    server_errors: int
    upstream_calls: int
    upstream_failures: int
    upstream_failure_rate: float | None
    upstream_cost: float
    calls_saved: float
    cost_saved: float
    upstream_by_provider: list[ProviderStats]
    routes: list[RouteStats]
    rooms: list[RoomStats]


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


class _Tally:
    """Counts of one route or room, summed from the rollup rows."""

    def __init__(self) -> None:
        self.requests = 0
        self.cached = 0
        self.hits = 0
        self.misses = 0
        self.miss_calls = 0
        self.server_errors = 0
        self.client_errors = 0
        self.upstream_calls = 0
        self.latency_sum = 0.0

    def add(self, row: Any) -> None:
        n = int(row["requests"])
        tier = str(row["tier"])
        self.requests += n
        self.upstream_calls += int(row["upstream_calls"])
        self.latency_sum += float(row["latency_ms_sum"])
        if tier:
            self.cached += n
        if tier in HIT_TIERS:
            self.hits += n
        elif tier == MISS_TIER:
            self.misses += n
            self.miss_calls += int(row["upstream_calls"])
        if row["status_class"] == 5:
            self.server_errors += n
        elif row["status_class"] == 4:
            self.client_errors += n

    def calls_saved(self) -> float:
        per_miss = self.miss_calls / self.misses if self.misses else 1.0
        return self.hits * per_miss


def _percentiles(row: Any) -> Percentiles:
    if row is None:
        return Percentiles()
    return Percentiles(
        **{
            f"p{q}_ms": None
            if row[f"p{q}_bucket"] is None
            else round(bucket_value(int(row[f"p{q}_bucket"])), 3)
            for q in (50, 95, 99)
        }
    )


async def load_stats(
    engine: AsyncEngine,
    hours: float,
    *,
    attribution: Attribution | None = None,
    call_costs: Mapping[str, float] | None = None,
    now: datetime | None = None,
) -> Stats:
    """Everything ``GET /v1/admin/stats`` reports, for the ``hours`` hours before ``now``."""
    attribution = attribution or Attribution()
    call_costs = call_costs or {}
    until = now or datetime.now(UTC)
    since = until - timedelta(hours=hours)
    params = {"since": since, "until": until}
    async with engine.connect() as conn:
        figures = (
            (await conn.execute(QUERIES.text("request_figures"), _edges(since, until)))
            .mappings()
            .all()
        )
        calls = (await conn.execute(QUERIES.text("upstream_figures"), params)).mappings().all()
        quantiles = (
            (await conn.execute(QUERIES.text("latency_percentiles"), _edges(since, until)))
            .mappings()
            .all()
        )
    pct = {(str(r["scope"]), str(r["key"])): r for r in quantiles}
    measured = await _measured_costs(engine, attribution, since, until)

    total = _Tally()
    by_route: dict[str, _Tally] = defaultdict(_Tally)
    by_tier: dict[str, int] = defaultdict(int)
    for row in figures:
        total.add(row)
        by_route[str(row["route"])].add(row)
        if row["tier"]:
            by_tier[str(row["tier"])] += int(row["requests"])

    providers = _providers(calls, pct, attribution, call_costs, measured)
    rooms = _rooms(by_route, providers, attribution, call_costs, measured)
    unattributed = sum(
        t.calls_saved() for route, t in by_route.items() if attribution.room_of_route(route) is None
    )
    overall = _percentiles(pct.get(("all", "")))
    failures = sum(p.failures for p in providers)
    upstream_total = sum(p.calls for p in providers)
    return Stats(
        hours=hours,
        since=since,
        until=until,
        requests=total.requests,
        cached_requests=total.cached,
        hits=total.hits,
        hit_rate=_ratio(total.hits, total.cached),
        hit_rate_by_tier={t: n / total.cached for t, n in by_tier.items()} if total.cached else {},
        requests_by_tier=dict(sorted(by_tier.items(), key=lambda kv: -kv[1])),
        p50_ms=overall.p50_ms,
        p95_ms=overall.p95_ms,
        p99_ms=overall.p99_ms,
        cached=_percentiles(pct.get(("cached", ""))),
        uncached=_percentiles(pct.get(("uncached", ""))),
        percentile_error=round(RELATIVE_ERROR, 6),
        error_rate=_ratio(total.server_errors, total.requests),
        client_error_rate=_ratio(total.client_errors, total.requests),
        server_errors=total.server_errors,
        upstream_calls=upstream_total,
        upstream_failures=failures,
        upstream_failure_rate=_ratio(failures, upstream_total),
        upstream_cost=round(sum(p.cost for p in providers), 6),
        calls_saved=round(sum(r.calls_saved for r in rooms) + unattributed, 3),
        cost_saved=round(sum(r.cost_saved for r in rooms), 6),
        upstream_by_provider=providers,
        routes=sorted(
            (_route(route, t, pct, attribution) for route, t in by_route.items()),
            key=lambda r: -r.requests,
        ),
        rooms=rooms,
    )


async def _measured_costs(
    engine: AsyncEngine, attribution: Attribution, since: datetime, until: datetime
) -> dict[str, MeasuredCost]:
    """What the rooms' own records say their providers cost; a reader that fails is skipped
    (its providers keep the per-call estimate), so one room cannot take the stats down."""
    measured: dict[str, MeasuredCost] = {}
    for reader in attribution.cost_readers:
        try:
            for cost in await reader(engine, since, until):
                measured[cost.provider] = cost
        except SQLAlchemyError as exc:
            log.warning("a room's cost reader failed, using estimates: %s", type(exc).__name__)
    return measured


def _edges(since: datetime, until: datetime) -> dict[str, datetime]:
    """The window's bounds: its first minute, its whole hours, its end."""
    lo = since.astimezone(UTC).replace(second=0, microsecond=0)
    hour = lo.replace(minute=0)
    first_hour = hour if hour == lo else hour + timedelta(hours=1)
    last_hour = until.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return {"lo": lo, "hi": until, "first_hour": first_hour, "last_hour": last_hour}


def _route(
    route: str, t: _Tally, pct: Mapping[tuple[str, str], Any], attribution: Attribution
) -> RouteStats:
    p = _percentiles(pct.get(("route", route)))
    return RouteStats(
        route=route,
        room=attribution.room_of_route(route),
        requests=t.requests,
        hits=t.hits,
        hit_rate=_ratio(t.hits, t.cached),
        server_errors=t.server_errors,
        error_rate=_ratio(t.server_errors, t.requests),
        upstream_calls=t.upstream_calls,
        mean_ms=None if not t.requests else round(t.latency_sum / t.requests, 3),
        **p.model_dump(),
    )


def _providers(
    rows: Any,
    pct: Mapping[tuple[str, str], Any],
    attribution: Attribution,
    call_costs: Mapping[str, float],
    measured: Mapping[str, MeasuredCost],
) -> list[ProviderStats]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[str(row["provider"])].append(row)
    out = []
    for provider, outcomes in grouped.items():
        calls = sum(int(r["calls"]) for r in outcomes)
        attempts = sum(int(r["attempts"]) for r in outcomes)
        failures = sum(int(r["calls"]) for r in outcomes if r["outcome"] != "ok")
        latency = sum(float(r["latency_ms_sum"]) for r in outcomes)
        price = float(call_costs.get(provider, 0.0))
        known = measured.get(provider)
        out.append(
            ProviderStats(
                provider=provider,
                room=attribution.room_of_provider(provider),
                calls=calls,
                failures=failures,
                failure_rate=_ratio(failures, calls),
                attempts=attempts,
                calls_by_outcome={str(r["outcome"]): int(r["calls"]) for r in outcomes},
                mean_ms=round(latency / calls, 3) if calls else None,
                price_per_call=round(known.cost / calls, 9) if known and calls else price,
                cost=round(known.cost if known else attempts * price, 6),
                cost_basis="measured" if known else "per_call",
                tokens=known.tokens if known else None,
                **_percentiles(pct.get(("provider", provider))).model_dump(),
            )
        )
    return sorted(out, key=lambda p: -p.calls)


def _rooms(
    by_route: Mapping[str, _Tally],
    providers: list[ProviderStats],
    attribution: Attribution,
    call_costs: Mapping[str, float],
    measured: Mapping[str, MeasuredCost],
) -> list[RoomStats]:
    out = []
    for room in attribution.rooms:
        t = _Tally()
        saved = 0.0
        for route, tally in by_route.items():
            if attribution.room_of_route(route) == room:
                for name in ("requests", "cached", "hits", "server_errors", "upstream_calls"):
                    setattr(t, name, getattr(t, name) + getattr(tally, name))
                saved += tally.calls_saved()
        own = [p for p in providers if p.room == room]
        calls = sum(p.calls for p in own)
        cost = sum(p.cost for p in own)
        if calls:
            per_call = cost / calls
        else:
            named = [call_costs.get(n, 0.0) for n, r in attribution.providers.items() if r == room]
            per_call = sum(named) / len(named) if named else 0.0
        own_measured = [
            m for m in measured.values() if attribution.room_of_provider(m.provider) == room
        ]
        cost_saved = sum(m.saved for m in own_measured) if own_measured else saved * per_call
        out.append(
            RoomStats(
                room=room,
                requests=t.requests,
                hits=t.hits,
                hit_rate=_ratio(t.hits, t.cached),
                server_errors=t.server_errors,
                error_rate=_ratio(t.server_errors, t.requests),
                upstream_calls=calls,
                upstream_cost=round(cost, 6),
                calls_saved=round(saved, 3),
                cost_saved=round(cost_saved, 6),
            )
        )
    return out
