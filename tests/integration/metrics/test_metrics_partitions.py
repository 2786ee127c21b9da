"""Metrics partitions by day: the flush makes the days it writes, retention drops old days whole."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.metrics.partitions import create_partitions
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.metrics.retention import prune_metrics
from cachefront.metrics.tables import PARTITIONED


async def _exists(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.scalar(text("SELECT to_regclass(:n)"), {"n": name})
    return found is not None


async def _count(engine: AsyncEngine, table: str, route: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE route = :r"),  # noqa: S608
                {"r": route},
            )
            or 0
        )


async def test_retention_drops_the_partitions_of_old_days(engine: AsyncEngine) -> None:
    route = f"/retention/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    old_day = (now - timedelta(days=45)).date()
    recorder = MetricsRecorder(engine)
    # The flush makes the partitions of a day it has not seen: 45 days back is one.
    recorder.request((time.time() - 45 * 86400, "GET", route, 200, 1.0, "memory", 0))
    recorder.request((time.time(), "GET", route, 200, 1.0, "memory", 0))
    assert await recorder.flush() == 2
    for table in PARTITIONED:
        assert await _exists(engine, f"metrics_partitions.{table}_{old_day:%Y%m%d}")
    assert await _count(engine, "request_metrics", route) == 2
    assert await _count(engine, "request_rollups", route) == 2

    dropped = await prune_metrics(engine, retention=timedelta(days=30))

    assert dropped["request_metrics"] >= 1
    assert dropped["request_rollups"] >= 1
    for table in PARTITIONED:
        assert not await _exists(engine, f"metrics_partitions.{table}_{old_day:%Y%m%d}")
    # Today's rows stay, and the next days' partitions are made ahead.
    assert await _count(engine, "request_metrics", route) == 1
    assert await _count(engine, "request_rollups", route) == 1
    ahead = (now + timedelta(days=3)).date()
    assert await _exists(engine, f"metrics_partitions.request_metrics_{ahead:%Y%m%d}")


async def test_a_day_inside_the_window_is_kept(engine: AsyncEngine) -> None:
    day = (datetime.now(UTC) - timedelta(days=29)).date()
    await create_partitions(engine, [day])
    await prune_metrics(engine, retention=timedelta(days=30))
    assert await _exists(engine, f"metrics_partitions.request_metrics_{day:%Y%m%d}")


async def test_making_partitions_twice_makes_them_once(engine: AsyncEngine) -> None:
    day = (datetime.now(UTC) - timedelta(days=20)).date()
    await create_partitions(engine, [day])
    assert await create_partitions(engine, [day, day]) == 0


async def test_the_app_role_cannot_make_tables_itself(engine: AsyncEngine) -> None:
    # The functions are the app role's only way to a partition: it holds no DDL right.
    async with engine.connect() as conn:
        await conn.execute(text("SET ROLE cachefront_app"))
        try:
            allowed = await conn.scalar(
                text("SELECT has_schema_privilege('metrics_partitions', 'CREATE')")
            )
        finally:
            await conn.execute(text("RESET ROLE"))
    assert allowed is False
