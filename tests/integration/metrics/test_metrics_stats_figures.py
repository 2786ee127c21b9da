"""The stats of a window match figures worked out by hand from a known set of metrics.

The metrics go in through the recorder's real flush (raw rows and rollups in one
statement), dated three days back on an hour of this module's own, so the rows other
tests record now are outside the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.metrics.attribution import Attribution
from cachefront.metrics.buckets import RELATIVE_ERROR, bucket_of, bucket_value
from cachefront.metrics.recorder import MetricsRecorder, RequestRow
from cachefront.metrics.stats import Stats, load_stats
from cachefront.rooms import MeasuredCost
from cachefront.upstream.records import UpstreamCallRecord

UNTIL = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3, hours=5)
A = "/v1/fig/a/{id}"
B = "/v1/fig/b"
ATTRIBUTION = Attribution(prefixes=(("/v1/fig/a", "figroom"),), providers={"figprov": "figroom"})
CALL_COSTS = {"figprov": 0.01}

# (route, status, latency_ms, tier, upstream calls)
REQUESTS = [
    *[(A, 200, float(ms), "memory", 0) for ms in (1, 2, 3, 4, 5, 6)],
    (A, 200, 100.0, "upstream", 2),
    (A, 200, 200.0, "upstream", 2),
    (A, 200, 10.0, "stale", 0),
    (A, 502, 300.0, "upstream", 1),
    (B, 200, 20.0, None, 0),
    (B, 200, 30.0, None, 0),
    (B, 200, 40.0, None, 0),
    (B, 404, 5.0, None, 0),
]
# (outcome, latency_ms, attempts)
CALLS = [("ok", 50.0, 1), ("ok", 60.0, 1), ("ok", 70.0, 1), ("timeout", 1000.0, 3)]


def _at(minutes_before: float) -> float:
    return (UNTIL - timedelta(minutes=minutes_before)).timestamp()


@pytest.fixture(scope="module")
async def stats(engine: AsyncEngine) -> Stats:
    recorder = MetricsRecorder(engine)
    for n, (route, status, ms, tier, calls) in enumerate(REQUESTS):
        row: RequestRow = (_at(50 - n), "GET", route, status, ms, tier, calls)
        recorder.request(row)
    # Outside the window: the minute before it, and the minute after it.
    recorder.request((_at(62), "GET", A, 200, 7.0, "memory", 0))
    recorder.request((_at(-1), "GET", A, 500, 7.0, "memory", 0))
    for n, (outcome, ms, attempts) in enumerate(CALLS):
        recorder.record_upstream(
            UpstreamCallRecord(
                ts=_at(40 - n),
                provider="figprov",
                method="GET",
                url="https://upstream.test/fig",
                status=200 if outcome == "ok" else None,
                latency_ms=ms,
                attempts=attempts,
                outcome=outcome,  # type: ignore[arg-type]
                priority="user",
            )
        )
    # Two flushes, so the rollups are upserted onto rows already there.
    recorder.request((_at(5), "GET", B, 200, 20.0, None, 0))
    await recorder.flush()
    return await load_stats(engine, 1, attribution=ATTRIBUTION, call_costs=CALL_COSTS, now=UNTIL)


def _estimate(ms: float) -> float:
    return round(bucket_value(bucket_of(ms)), 3)


def test_counts_and_rates(stats: Stats) -> None:
    # B's fifth request, 20 ms, counts too: 10 on A, 5 on B.
    assert stats.requests == 15
    assert stats.cached_requests == 10
    assert stats.hits == 7
    assert stats.hit_rate == 0.7
    assert stats.requests_by_tier == {"memory": 6, "upstream": 3, "stale": 1}
    assert stats.hit_rate_by_tier == {"memory": 0.6, "upstream": 0.3, "stale": 0.1}
    assert stats.server_errors == 1
    assert stats.error_rate == round(1 / 15, 6)
    assert stats.client_error_rate == round(1 / 15, 6)


def test_routes(stats: Stats) -> None:
    routes = {r.route: r for r in stats.routes}
    assert set(routes) == {A, B}
    a, b = routes[A], routes[B]
    assert (a.requests, a.hits, a.hit_rate, a.server_errors, a.upstream_calls) == (
        10,
        7,
        0.7,
        1,
        5,
    )
    assert a.room == "figroom"
    assert b.room is None
    assert b.hit_rate is None  # not a cached route
    assert b.mean_ms == round((20 + 30 + 40 + 5 + 20) / 5, 3)


def test_percentiles_are_the_buckets_of_the_hand_computed_order_statistics(stats: Stats) -> None:
    # All 15, sorted: 1 2 3 4 5 5 6 10 20 20 30 40 100 200 300. Rank floor(q * 14):
    # p50 -> 7 (10 ms), p95 -> 13 (200 ms), p99 -> 13 (200 ms).
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (
        _estimate(10),
        _estimate(200),
        _estimate(200),
    )
    # Cached (hits only): 1 2 3 4 5 6 10, ranks 3, 5, 5.
    assert (stats.cached.p50_ms, stats.cached.p95_ms, stats.cached.p99_ms) == (
        _estimate(4),
        _estimate(6),
        _estimate(6),
    )
    # Uncached: 5 20 20 30 40 100 200 300, ranks 3, 6, 6.
    assert (stats.uncached.p50_ms, stats.uncached.p95_ms) == (_estimate(30), _estimate(200))
    for value, exact in ((stats.p50_ms, 10), (stats.p95_ms, 200), (stats.cached.p50_ms, 4)):
        assert value is not None
        assert abs(value - exact) / exact <= RELATIVE_ERROR + 1e-9
    assert stats.percentile_error == round(RELATIVE_ERROR, 6)


def test_providers_and_cost(stats: Stats) -> None:
    (prov,) = stats.upstream_by_provider
    assert prov.provider == "figprov"
    assert prov.room == "figroom"
    assert (prov.calls, prov.failures, prov.attempts) == (4, 1, 6)
    assert prov.calls_by_outcome == {"ok": 3, "timeout": 1}
    assert prov.failure_rate == 0.25
    assert prov.mean_ms == round((50 + 60 + 70 + 1000) / 4, 3)
    # 50 60 70 1000: ranks 1 and 2.
    assert (prov.p50_ms, prov.p95_ms) == (_estimate(60), _estimate(70))
    # Six attempts at 0.01 each.
    assert prov.cost == 0.06
    assert stats.upstream_calls == 4
    assert stats.upstream_cost == 0.06


def test_rooms_and_savings(stats: Stats) -> None:
    (room,) = stats.rooms
    assert room.room == "figroom"
    assert (room.requests, room.hits, room.server_errors, room.upstream_calls) == (10, 7, 1, 4)
    # Three misses made 2 + 2 + 1 calls: each of the 7 hits saved 5/3 calls, at the
    # room's 0.06 / 4 calls = 0.015 a call.
    assert room.calls_saved == round(7 * 5 / 3, 3)
    assert room.cost_saved == round(7 * 5 / 3 * 0.015, 6)
    assert stats.calls_saved == room.calls_saved
    assert stats.cost_saved == room.cost_saved


async def test_an_empty_window_has_no_rates(engine: AsyncEngine) -> None:
    empty = await load_stats(engine, 1, now=UNTIL - timedelta(days=1))
    assert empty.requests == 0
    assert empty.hit_rate is None
    assert empty.error_rate is None
    assert empty.p50_ms is None
    assert empty.routes == []


async def test_a_window_inside_an_hour_reads_its_minutes(stats: Stats, engine: AsyncEngine) -> None:
    # [40, 10) minutes before the hour: the last four of REQUESTS, all on B.
    inside = await load_stats(engine, 0.5, now=UNTIL - timedelta(minutes=10))
    assert inside.requests == 4
    assert [r.route for r in inside.routes] == [B]
    assert inside.client_error_rate == 0.25


async def test_a_window_across_hours_reads_hours_and_both_edges(
    stats: Stats, engine: AsyncEngine
) -> None:
    # [90 min before, 30 min after): every request, the two outside the hour included.
    across = await load_stats(engine, 2, now=UNTIL + timedelta(minutes=30))
    assert across.requests == stats.requests + 2
    assert across.server_errors == stats.server_errors + 1


async def test_a_room_measured_cost_replaces_the_per_call_estimate(
    stats: Stats, engine: AsyncEngine
) -> None:
    windows: list[tuple[datetime, datetime]] = []

    async def reader(_: AsyncEngine, since: datetime, until: datetime) -> list[MeasuredCost]:
        windows.append((since, until))
        return [MeasuredCost("figprov", cost=1.25, saved=3.5, tokens=4200)]

    measured = Attribution(ATTRIBUTION.prefixes, ATTRIBUTION.providers, (reader,))
    figures = await load_stats(engine, 1, attribution=measured, call_costs=CALL_COSTS, now=UNTIL)
    assert windows == [(UNTIL - timedelta(hours=1), UNTIL)]
    (prov,) = figures.upstream_by_provider
    assert (prov.cost, prov.cost_basis, prov.tokens) == (1.25, "measured", 4200)
    assert prov.price_per_call == round(1.25 / 4, 9)
    (room,) = figures.rooms
    assert (room.upstream_cost, room.cost_saved) == (1.25, 3.5)
    # The calls saved are still counted from the requests; only the money is measured.
    assert room.calls_saved == stats.rooms[0].calls_saved
    assert (figures.upstream_cost, figures.cost_saved) == (1.25, 3.5)
    # Without a reader the same window keeps the estimate.
    (estimated,) = stats.upstream_by_provider
    assert (estimated.cost_basis, estimated.tokens) == ("per_call", None)


async def test_a_failing_cost_reader_leaves_the_estimate(stats: Stats, engine: AsyncEngine) -> None:
    async def broken(conn_engine: AsyncEngine, *_: datetime) -> list[MeasuredCost]:
        async with conn_engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_ledger"))
        return []

    attribution = Attribution(ATTRIBUTION.prefixes, ATTRIBUTION.providers, (broken,))
    figures = await load_stats(engine, 1, attribution=attribution, call_costs=CALL_COSTS, now=UNTIL)
    assert figures.upstream_cost == stats.upstream_cost
    assert figures.upstream_by_provider[0].cost_basis == "per_call"
