"""Storage figures from known entries: per namespace, per table, the expiry forecast."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.observability.storage import load_storage

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _insert(
    engine: AsyncEngine, ns: str, rows: list[tuple[str, int, timedelta, timedelta]]
) -> None:
    """Rows of (key, value bytes, stored before NOW, expires after NOW)."""
    async with engine.begin() as conn:
        for key, size, stored, expires in rows:
            await conn.execute(
                text(
                    "INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at,"
                    " fresh_until, expires_at) VALUES (:ns, :key, :value, 'e', false, :stored,"
                    " :stored, :expires)"
                ),
                {
                    "ns": ns,
                    "key": key,
                    "value": b"v" * size,
                    "stored": NOW - stored,
                    "expires": NOW + expires,
                },
            )


async def test_namespace_figures_equal_the_hand_computed_ones(engine: AsyncEngine) -> None:
    ns = f"fig{uuid.uuid4().hex[:8]}"
    quiet = f"quiet{uuid.uuid4().hex[:8]}"
    await _insert(
        engine,
        ns,
        [
            ("gone", 10, timedelta(days=3), timedelta(minutes=-5)),  # expired already
            ("soon", 20, timedelta(days=2), timedelta(minutes=30)),  # within 1 h
            ("today", 30, timedelta(hours=5), timedelta(hours=20)),  # within 24 h
            ("week", 40, timedelta(hours=1), timedelta(days=3)),  # within 7 d
            ("later", 50, timedelta(minutes=1), timedelta(days=30)),  # past 7 d
        ],
    )
    report = await load_storage(engine, {ns: 100, quiet: 1000}, now=NOW)
    by_name = {n.namespace: n for n in report.namespaces}
    got = by_name[ns]
    assert (got.entries, got.bytes) == (5, 150)
    assert got.oldest_stored_at == NOW - timedelta(days=3)
    assert got.newest_stored_at == NOW - timedelta(minutes=1)
    assert (got.expired, got.expiring_1h, got.expiring_24h, got.expiring_7d) == (1, 1, 2, 3)
    assert got.quota_bytes == 100
    assert got.over_quota
    # A namespace with a quota and no entry is listed with zeros.
    empty = by_name[quiet]
    assert (empty.entries, empty.bytes, empty.oldest_stored_at, empty.quota_bytes) == (
        0,
        0,
        None,
        1000,
    )
    assert not empty.over_quota


async def test_tables_are_listed_with_their_partitions_rolled_up(engine: AsyncEngine) -> None:
    report = await load_storage(engine)
    tables = {(t.schema_name, t.table): t for t in report.tables}
    assert ("public", "cache_entries") in tables
    assert tables[("public", "cache_entries")].bytes > 0
    assert tables[("public", "cache_entries")].partitions == 0
    # request_metrics is partitioned by day: its partitions (in their own schema) are
    # counted in it and not listed on their own.
    metrics = tables[("public", "request_metrics")]
    async with engine.connect() as conn:
        leaves = (
            await conn.execute(
                text(
                    "SELECT count(*) AS n, coalesce(sum(pg_total_relation_size(relid)), 0) AS b"
                    " FROM pg_partition_tree('request_metrics') WHERE isleaf AND level > 0"
                )
            )
        ).one()
    assert metrics.partitions == leaves.n
    assert metrics.bytes >= leaves.b
    assert not any(schema == "metrics_partitions" for schema, _ in tables)
    assert report.database_bytes >= sum(t.bytes for t in report.tables)
