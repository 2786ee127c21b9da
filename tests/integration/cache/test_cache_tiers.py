"""The tiers together: promotion with truthful Age, stale across tiers, sharing between caches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from cachefront.cache import CachePolicy, Tier, make_entry
from cachefront.errors import NotFoundError

if TYPE_CHECKING:
    from cache_fixtures import CacheFactory

POLICY = CachePolicy(
    fresh_for=timedelta(minutes=10),
    stale_for=timedelta(hours=1),
    negative_for=timedelta(minutes=1),
)


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Wait for background work to make ``condition`` true, failing after ``seconds``."""
    for _ in range(int(seconds / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition still false after waiting")


async def _never() -> bytes:
    raise AssertionError("must not fetch")


async def test_db_hit_refills_redis_and_memory_with_truthful_age(
    make_cache: CacheFactory, ns: str
) -> None:
    cache = await make_cache()
    assert cache.db is not None
    assert cache.redis is not None
    entry = make_entry(b'{"from":"db"}', POLICY, now=time.time() - 100)
    await cache.db.set(ns, "k", entry)

    first = await cache.get_or_fetch(ns, "k", _never, POLICY)
    assert first.tier is Tier.DB
    assert 100 <= first.age() <= 105

    in_redis = await cache.redis.get(ns, "k")
    in_memory = cache.memory.peek(ns, "k")
    assert in_redis is not None
    assert in_memory is not None
    for copy in (in_redis, in_memory):
        assert copy.value == entry.value
        assert copy.stored_at == pytest.approx(entry.stored_at, abs=1e-6)

    second = await cache.get_or_fetch(ns, "k", _never, POLICY)
    assert second.tier is Tier.MEMORY
    assert 100 <= second.age() <= 105


async def test_redis_hit_refills_memory(make_cache: CacheFactory, ns: str) -> None:
    cache = await make_cache()
    assert cache.db is not None
    assert cache.redis is not None
    entry = make_entry(b'{"from":"redis"}', POLICY, now=time.time() - 30)
    await cache.redis.set(ns, "k", entry)

    got = await cache.get(ns, "k", POLICY)
    assert got is not None
    assert (got.tier, got.entry.value) == (Tier.REDIS, entry.value)
    assert 30 <= got.age() <= 35
    assert cache.memory.peek(ns, "k") == entry
    assert await cache.db.get(ns, "k") is None  # promotion goes up, never down

    again = await cache.get(ns, "k", POLICY)
    assert again is not None
    assert again.tier is Tier.MEMORY


async def test_a_fetch_fills_every_tier_of_the_policy_only(
    make_cache: CacheFactory, ns: str
) -> None:
    cache = await make_cache()
    assert cache.db is not None
    assert cache.redis is not None

    async def fetch() -> bytes:
        return b"v"

    await cache.get_or_fetch(ns, "all", fetch, POLICY)
    assert cache.memory.peek(ns, "all") is not None
    assert await cache.redis.get(ns, "all") is not None
    assert await cache.db.get(ns, "all") is not None

    memory_and_db = CachePolicy(fresh_for=timedelta(minutes=1), tiers=("memory", "db"))
    await cache.get_or_fetch(ns, "some", fetch, memory_and_db)
    assert cache.memory.peek(ns, "some") is not None
    assert await cache.redis.get(ns, "some") is None
    assert await cache.db.get(ns, "some") is not None


async def test_put_many_writes_every_tier(make_cache: CacheFactory, ns: str) -> None:
    cache = await make_cache()
    assert cache.db is not None
    assert cache.redis is not None
    items = {f"k{i}": f"{i}".encode() for i in range(50)}
    await cache.put_many(ns, items, POLICY)
    assert len(await cache.db.get_many(ns, list(items))) == 50
    assert len(await cache.redis.get_many(ns, list(items))) == 50
    assert all(cache.memory.peek(ns, key) for key in items)


async def test_a_fresher_lower_tier_beats_a_stale_memory_entry(
    make_cache: CacheFactory, ns: str
) -> None:
    cache = await make_cache()
    assert cache.db is not None
    now = time.time()
    cache.memory.put(ns, "k", make_entry(b"stale", POLICY, now=now - 700))
    await cache.db.set(ns, "k", make_entry(b"fresh", POLICY, now=now - 5))

    got = await cache.get_or_fetch(ns, "k", _never, POLICY)
    assert (got.tier, got.entry.value) == (Tier.DB, b"fresh")
    held = cache.memory.peek(ns, "k")
    assert held is not None
    assert held.value == b"fresh"


async def test_stale_in_db_is_served_and_revalidated_into_every_tier(
    make_cache: CacheFactory, ns: str
) -> None:
    cache = await make_cache()
    db, redis = cache.db, cache.redis
    assert db is not None
    assert redis is not None
    await db.set(ns, "k", make_entry(b"old", POLICY, now=time.time() - 700))
    calls = 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        return b"new"

    got = await cache.get_or_fetch(ns, "k", fetch, POLICY)
    assert (got.tier, got.entry.value) == (Tier.STALE, b"old")
    assert 700 <= got.age() <= 705

    async def refreshed() -> bool:
        entry = await db.get(ns, "k")
        return entry is not None and entry.value == b"new"

    await _until(refreshed)
    redis_copy = await redis.get(ns, "k")
    assert redis_copy is not None
    assert redis_copy.value == b"new"
    fresh = await cache.get_or_fetch(ns, "k", fetch, POLICY)
    assert (fresh.tier, fresh.entry.value) == (Tier.MEMORY, b"new")
    assert calls == 1


async def test_not_found_is_shared_between_caches(make_cache: CacheFactory, ns: str) -> None:
    one, two = await make_cache(), await make_cache()
    calls = 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        raise NotFoundError("no body named 'vulcan'")

    with pytest.raises(NotFoundError, match="vulcan"):
        await one.get_or_fetch(ns, "vulcan", fetch, POLICY)
    with pytest.raises(NotFoundError, match="vulcan"):
        await two.get_or_fetch(ns, "vulcan", fetch, POLICY)
    assert calls == 1


async def test_invalidate_reaches_every_tier(make_cache: CacheFactory, ns: str) -> None:
    cache = await make_cache()
    assert cache.db is not None
    assert cache.redis is not None
    await cache.put_many(ns, {"mars:1": b"1", "mars:2": b"2", "venus:1": b"3"}, POLICY)
    assert await cache.invalidate(ns, prefix="mars:") == 2
    for key in ("mars:1", "mars:2"):
        assert cache.memory.peek(ns, key) is None
        assert await cache.redis.get(ns, key) is None
        assert await cache.db.get(ns, key) is None
    assert await cache.invalidate(ns, "venus:1") == 1
    assert await cache.get(ns, "venus:1", POLICY) is None
