"""Hot-path hits folded in memory give the rollups and histograms a raw row per hit would.

Two recorders get the same hits, one through ``hit`` (folded) and one through
``request`` (a raw row each), on routes of their own; the figures the stats read
(per-minute and hourly counts and latency sums, the hourly histograms) must match,
and only the slow hits and the sample keep raw rows. Also: a fold survives a
failed flush, and the Prometheus sink is fed each hit once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import RAW_HIT_EVERY, SLOW_HIT_MS, MetricsRecorder, RequestRow
from cachefront.upstream.records import UpstreamCallRecord

# Two days back, so no other test's rows share these minutes' figures of these routes.
BASE = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
# (seconds after BASE, status, latency_ms): three minutes, two statuses, one slow hit.
HITS = [
    *[(n * 0.5, 200, 0.1 + n * 0.01) for n in range(150)],
    (70.0, 304, 0.2),
    (75.0, 200, SLOW_HIT_MS + 5),
    (130.0, 200, 3.0),
]


class SinkSpy:
    def __init__(self) -> None:
        self.rows: list[RequestRow] = []

    def add_requests(self, rows: list[RequestRow]) -> None:
        self.rows.extend(rows)

    def add_upstream(self, records: list[UpstreamCallRecord]) -> None:
        pass


async def _figures(engine: AsyncEngine, route: str) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "minutes": "SELECT minute, tier, status_class, requests, upstream_calls, "
        "round(latency_ms_sum::numeric, 6) FROM request_rollups WHERE route = :r ORDER BY 1, 3",
        "hours": "SELECT hour, tier, status_class, requests, "
        "round(latency_ms_sum::numeric, 6) FROM request_hours WHERE route = :r ORDER BY 1, 3",
        "buckets": "SELECT hour, tier, bucket, n FROM latency_buckets "
        "WHERE kind = 'request' AND name = :r ORDER BY 1, 3",
    }
    async with engine.connect() as conn:
        return {
            name: [tuple(row) for row in await conn.execute(text(sql), {"r": route})]
            for name, sql in queries.items()
        }


async def _raw(engine: AsyncEngine, route: str) -> list[float]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT latency_ms FROM request_metrics WHERE route = :r ORDER BY ts"),
            {"r": route},
        )
        return [float(row[0]) for row in result]


@pytest.fixture
def routes() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"/fold-test/{tag}/folded", f"/fold-test/{tag}/raw"


@pytest.fixture
async def dead_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("postgresql://postgres@127.0.0.1:1/test", pool_size=1)
    yield engine
    await engine.dispose()


async def test_folded_hits_give_the_figures_of_raw_rows(
    engine: AsyncEngine, routes: tuple[str, str]
) -> None:
    folded_route, raw_route = routes
    folded, raw = MetricsRecorder(engine), MetricsRecorder(engine)
    for offset, status, ms in HITS:
        ts = BASE.timestamp() + offset
        folded.hit(folded_route, status, ms, ts)
        raw.request((ts, "GET", raw_route, status, ms, "memory", 0))
    assert folded.pending == len(HITS)
    assert await folded.flush() == len(HITS)
    await raw.flush()
    assert folded.pending == 0
    assert await _figures(engine, folded_route) == await _figures(engine, raw_route)
    kept = await _raw(engine, folded_route)
    # The slow hit, and every RAW_HIT_EVERY-th hit as the sample.
    sampled = [ms for n, (_, _, ms) in enumerate(HITS, 1) if n % RAW_HIT_EVERY == 0]
    assert sorted(kept) == sorted([SLOW_HIT_MS + 5, *sampled])
    assert len(kept) < len(HITS) / 10


async def test_a_fold_survives_a_failed_flush_and_is_counted_once(
    engine: AsyncEngine, dead_engine: AsyncEngine, routes: tuple[str, str]
) -> None:
    route, _ = routes
    sink = SinkSpy()
    recorder = MetricsRecorder(dead_engine, sink=sink)
    for n in range(10):
        recorder.hit(route, 200, 1.0, BASE.timestamp() + n)
    assert await recorder.flush() == 0
    assert recorder.pending == 10
    recorder.hit(route, 200, 2.0, BASE.timestamp() + 20)
    recorder.attach(engine)
    assert await recorder.flush() == 11
    figures = await _figures(engine, route)
    assert [(row[3], row[5]) for row in figures["minutes"]] == [(11, 12)]
    # The sink saw each hit once, with its own latency, though the first flush failed.
    assert sorted(row[4] for row in sink.rows if row[2] == route) == [1.0] * 10 + [2.0]


def test_recording_off_keeps_nothing() -> None:
    recorder = MetricsRecorder(None, enabled=False)
    recorder.hit("/r", 200, 1.0, BASE.timestamp())
    recorder.request((BASE.timestamp(), "GET", "/r", 200, 1.0, None, 0))
    assert recorder.pending == 0
