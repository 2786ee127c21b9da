"""Memory tiers of two caches (two processes) kept in step over Redis and over PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import CachePolicy, MemoryStore, PostgresStore, RedisStore, TieredCache
from cachefront.cache.invalidation import Announcer
from cachefront.cache.invalidation_postgres import PostgresAnnouncer
from cachefront.cache.invalidation_redis import RedisAnnouncer
from cachefront.redis_link import RedisLink

POLICY = CachePolicy(fresh_for=timedelta(minutes=5))
# Memory tiers must follow a change made elsewhere within this long.
WITHIN = 0.1

Maker = Callable[[], "asyncio.Future[TieredCache]"]


@pytest.fixture(params=["redis", "postgres"])
async def pair(
    request: pytest.FixtureRequest,
    engine: AsyncEngine,
    redis_server_url: str | None,
    redis_prefix: str,
) -> AsyncIterator[tuple[TieredCache, TieredCache]]:
    """Two caches over the same shared tiers, each with its own memory and announcer."""
    carrier = request.param
    if carrier == "redis" and redis_server_url is None:
        pytest.skip("needs Redis: none answered at CACHEFRONT_TEST_REDIS_URL")
    caches: list[TieredCache] = []
    links: list[RedisLink] = []
    for _ in range(2):
        memory = MemoryStore()
        redis_store = None
        announcer: Announcer
        if carrier == "redis":
            assert redis_server_url is not None
            link = RedisLink(redis_server_url, prefix=redis_prefix, socket_timeout=2.0)
            links.append(link)
            redis_store = RedisStore(link)
            announcer = RedisAnnouncer(link, memory)
        else:
            announcer = PostgresAnnouncer(engine, memory)
        cache = TieredCache(
            memory=memory, redis=redis_store, db=PostgresStore(engine), announcer=announcer
        )
        await cache.open()
        caches.append(cache)
    yield caches[0], caches[1]
    for cache in caches:
        await cache.aclose()
    for link in links:
        await link.aclose()


async def _gone_within(memory: MemoryStore, ns: str, key: str, seconds: float) -> float:
    """How long ``key`` took to leave ``memory``; fails past ``seconds``."""
    start = time.perf_counter()
    while memory.peek(ns, key) is not None:
        assert time.perf_counter() - start < seconds, f"{key} still in memory"
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def test_a_value_refreshed_in_one_process_leaves_the_others_memory(
    pair: tuple[TieredCache, TieredCache], ns: str
) -> None:
    writer, reader = pair
    await writer.put_many(ns, {"k": b"old"}, POLICY)
    assert (await reader.get(ns, "k", POLICY)) is not None  # now in the reader's memory
    assert reader.memory.peek(ns, "k") is not None
    await writer.put_many(ns, {"k": b"new"}, POLICY)
    await _gone_within(reader.memory, ns, "k", WITHIN)
    # The writer's own memory keeps what it wrote: its own message is not applied.
    own = writer.memory.peek(ns, "k")
    assert own is not None
    assert own.value == b"new"
    cached = await reader.get(ns, "k", POLICY)
    assert cached is not None
    assert cached.entry.value == b"new"


async def test_an_invalidated_key_or_prefix_leaves_every_memory(
    pair: tuple[TieredCache, TieredCache], ns: str
) -> None:
    first, second = pair
    await first.put_many(ns, {"a1": b"1", "a2": b"2", "b1": b"3"}, POLICY)
    for key in ("a1", "a2", "b1"):
        await second.get(ns, key, POLICY)
    await first.invalidate(ns, "b1")
    await _gone_within(second.memory, ns, "b1", WITHIN)
    await first.invalidate(ns, prefix="a")
    await _gone_within(second.memory, ns, "a1", WITHIN)
    assert second.memory.peek(ns, "a2") is None
    assert await second.get(ns, "a1", POLICY) is None  # gone from the shared tiers too
