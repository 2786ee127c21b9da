"""Quota eviction and read tracking against a real PostgreSQL: LRU order, batching, totals."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import (
    CachePolicy,
    MemoryStore,
    PostgresStore,
    RedisStore,
    TieredCache,
    make_entry,
)
from cachefront.cache.quotas import evict_over_quota
from cachefront.cache.reads import ReadLog
from cachefront.config import Settings
from cachefront.jobs.registry import JobResources
from cachefront.jobs.schedule import default_registry
from cachefront.rooms import RoomServices

POLICY = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(hours=1))
DB_ONLY = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(hours=1), tiers=("db",))
REDIS_ONLY = CachePolicy(
    fresh_for=timedelta(hours=1), stale_for=timedelta(hours=1), tiers=("redis",)
)


async def _fill(engine: AsyncEngine, ns: str, n: int, size: int = 100) -> None:
    """``n`` entries of ``size`` bytes, k00 stored first, one second apart, an hour ago."""
    start = time.time() - 3600
    store = PostgresStore(engine)
    await store.set_many(
        ns,
        {f"k{i:02d}": make_entry(b"x" * size, POLICY, now=start + i) for i in range(n)},
    )


async def _keys(engine: AsyncEngine, ns: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key FROM cache_entries WHERE namespace = :ns"), {"ns": ns}
        )
        return {r.key for r in rows}


async def _last_reads(engine: AsyncEngine, ns: str) -> dict[str, object]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key, last_read_at FROM cache_entries WHERE namespace = :ns"), {"ns": ns}
        )
        return {r.key: r.last_read_at for r in rows}


async def test_over_quota_evicts_exactly_the_least_recently_read(
    engine: AsyncEngine, ns: str
) -> None:
    await _fill(engine, ns, 20)  # 2000 bytes
    reads = ReadLog([ns], engine=engine)
    cache = TieredCache(memory=MemoryStore(), db=PostgresStore(engine), reads=reads)
    async with cache:

        async def never() -> bytes:
            raise AssertionError("served from the cache")

        # The four oldest are read (from PostgreSQL, then from memory, both count).
        for key in ("k00", "k01", "k02", "k03"):
            await cache.get_or_fetch(ns, key, never, POLICY)
            await cache.get_or_fetch(ns, key, never, POLICY)
        assert await reads.flush() == 4

    # Quota 1250 bytes: 8 entries must go, the 8 least recently used: never read
    # since stored, oldest stored first (k04..k11); the four read ones survive.
    done = await evict_over_quota(engine, {ns: 1250}, batch_rows=3)
    assert [(e.entries, e.bytes, e.bytes_before, e.bytes_after) for e in done] == [
        (8, 800, 2000, 1200)
    ]
    expected = {f"k{i:02d}" for i in (0, 1, 2, 3, *range(12, 20))}
    assert await _keys(engine, ns) == expected

    # Under quota now: a second run evicts nothing; the totals were kept.
    assert (await evict_over_quota(engine, {ns: 1250}))[0].entries == 0
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT evicted_entries AS entries, evicted_bytes AS bytes, bytes AS now"
                    " FROM cache_quota_state WHERE namespace = :ns"
                ),
                {"ns": ns},
            )
        ).one()
    assert (row.entries, row.bytes, row.now) == (8, 800, 1200)


async def test_a_db_hit_counts_as_a_read_without_memory(engine: AsyncEngine, ns: str) -> None:
    await _fill(engine, ns, 3)
    reads = ReadLog([ns], engine=engine)
    cache = TieredCache(memory=MemoryStore(), db=PostgresStore(engine), reads=reads)
    async with cache:
        got = await cache.get(ns, "k00", DB_ONLY)
        assert got is not None
    # aclose flushed what was left.
    last = await _last_reads(engine, ns)
    assert last["k00"] is not None
    assert last["k01"] is None
    assert last["k02"] is None


async def test_reads_wait_for_the_flush_and_are_written_in_batches(
    engine: AsyncEngine, ns: str
) -> None:
    await _fill(engine, ns, 12)
    reads = ReadLog([ns, "other"], engine=engine, batch_keys=5, resolution_seconds=3600)
    for _ in range(3):  # hot keys: many notes, one row write each
        for i in range(10):
            reads.note(ns, f"k{i:02d}")
    reads.note("untracked", "k00")
    assert reads.pending == 10
    assert all(v is None for v in (await _last_reads(engine, ns)).values())

    assert await reads.flush() == 10  # two statements of 5 keys
    last = await _last_reads(engine, ns)
    assert {k for k, v in last.items() if v is not None} == {f"k{i:02d}" for i in range(10)}

    # Read again within the resolution: not sent again, no row rewritten.
    reads.note(ns, "k00")
    assert await reads.flush() == 0
    assert await _last_reads(engine, ns) == last

    # Another process's log (nothing sent yet) still leaves rows read recently alone.
    other = ReadLog([ns], engine=engine, resolution_seconds=3600)
    other.note(ns, "k00")
    other.note(ns, "k10")
    assert await other.flush() == 1
    assert (await _last_reads(engine, ns))["k10"] is not None


async def test_an_empty_quota_evicts_the_whole_namespace(engine: AsyncEngine, ns: str) -> None:
    await _fill(engine, ns, 7)
    done = await evict_over_quota(engine, {ns: 0}, batch_rows=2)
    assert done[0].entries == 7
    assert await _keys(engine, ns) == set()


async def test_a_redis_hit_counts_as_a_read(
    engine: AsyncEngine, ns: str, redis_store: RedisStore
) -> None:
    await _fill(engine, ns, 2)
    entry = make_entry(b"x" * 100, POLICY)
    await redis_store.set(ns, "k01", entry)  # the same key, newer, in Redis
    reads = ReadLog([ns], engine=engine)
    cache = TieredCache(
        memory=MemoryStore(), redis=redis_store, db=PostgresStore(engine), reads=reads
    )
    async with cache:
        got = await cache.get(ns, "k01", REDIS_ONLY)
        assert got is not None
    last = await _last_reads(engine, ns)
    assert last["k01"] is not None
    assert last["k00"] is None


async def test_the_periodic_task_evicts_every_namespace_with_a_quota(
    engine: AsyncEngine, ns: str
) -> None:
    await _fill(engine, ns, 10)
    settings = Settings(_env_file=None, cache_quotas={ns: "500B"})  # type: ignore[call-arg]
    task = default_registry(settings).periodic["evict-over-quota"]
    resources = JobResources(settings, engine, RoomServices())
    summary = await task.run(resources, datetime.now(UTC))
    assert summary == {ns: {"evicted": 5, "bytes": 500}}
    assert await _keys(engine, ns) == {f"k{i:02d}" for i in range(5, 10)}
