"""The periodic tasks' work against real PostgreSQL: precompute, cache cleanup, metrics pruning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.app import running_services
from cachefront.cache.cleanup import delete_expired_entries
from cachefront.cache.tables import cache_entries
from cachefront.config import Settings
from cachefront.metrics.partitions import create_partitions
from cachefront.metrics.retention import prune_metrics
from cachefront.metrics.tables import request_metrics, upstream_calls
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.service import EphemerisService
from cachefront.services.ephemeris.tasks import precompute_window
from harness_servers import Simulator

SEVEN = [Body(name) for name in ("sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn")]


async def test_precompute_calls_once_per_body_then_never(
    job_settings: Callable[..., Settings], jobs_simulator: Simulator
) -> None:
    settings = job_settings(worker_in_process=False)
    start = datetime(2026, 5, 4, 13, 20, tzinfo=UTC)
    async with running_services(settings) as services:
        service = services.get(EphemerisService)
        missing = await precompute_window(service, SEVEN, start, 48)
        assert jobs_simulator.requests() == len(SEVEN)
        assert all(count == 49 for count in missing.values()), missing

        again = await precompute_window(service, SEVEN, start, 48)
        assert jobs_simulator.requests() == len(SEVEN)
        assert set(again.values()) == {0}

        # An hour later only the new hour is missing: still at most one call per body.
        later = await precompute_window(service, SEVEN, start + timedelta(hours=1), 48)
        assert jobs_simulator.requests() <= 2 * len(SEVEN)
        assert all(count <= 1 for count in later.values()), later


async def test_cleanup_deletes_only_expired_rows_in_batches(
    engine: AsyncEngine, clean_jobs: None
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "namespace": "test-cleanup",
            "key": f"k{i}",
            "value": b"x",
            "etag": '"e"',
            "negative": False,
            "stored_at": now - timedelta(days=2),
            "fresh_until": now - timedelta(days=1),
            "expires_at": now + (timedelta(hours=1) if i % 3 == 0 else -timedelta(hours=1)),
        }
        for i in range(30)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(cache_entries), rows)
    deleted = await delete_expired_entries(engine, batch_rows=7)
    assert deleted == 20
    async with engine.connect() as conn:
        left = await conn.scalar(
            select(func.count()).where(cache_entries.c.namespace == "test-cleanup")
        )
    assert left == 10


async def test_prune_metrics_keeps_the_recent_ones(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    await create_partitions(
        engine, [(now - timedelta(days=days)).date() for days in (60, 40, 35, 31, 29, 2, 1, 0)]
    )
    async with engine.begin() as conn:
        await conn.execute(request_metrics.delete())
        await conn.execute(upstream_calls.delete())
        await conn.execute(
            insert(request_metrics),
            [
                {
                    "ts": now - timedelta(days=days),
                    "method": "GET",
                    "route": "/x",
                    "status": 200,
                    "latency_ms": 1.0,
                    "cache_tier": "memory",
                    "upstream_calls": 0,
                }
                for days in (40, 35, 31, 29, 1, 0)
            ],
        )
        await conn.execute(
            insert(upstream_calls),
            [
                {
                    "ts": now - timedelta(days=days),
                    "provider": "horizons",
                    "method": "GET",
                    "url": "u",
                    "status": 200,
                    "latency_ms": 1.0,
                    "attempts": 1,
                    "outcome": "ok",
                    "priority": "user",
                }
                for days in (60, 2)
            ],
        )
    deleted = await prune_metrics(engine, retention=timedelta(days=30))
    assert deleted["request_metrics"] == 3
    assert deleted["upstream_calls"] == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(request_metrics)) == 3
        assert await conn.scalar(select(func.count()).select_from(upstream_calls)) == 1
