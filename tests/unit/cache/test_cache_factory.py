"""build_cache: the handles given decide which tiers exist; the limits reach the locks."""

from __future__ import annotations

from cachefront.cache import MemoryStore, RedisStore, build_cache
from cachefront.cache.keys import DEFAULT_USER_DEADLINE_SECONDS
from cachefront.redis_link import RedisLink


def test_without_redis_or_engine_only_memory_exists() -> None:
    memory = MemoryStore(max_bytes=1234, max_entry_bytes=99)
    cache = build_cache(None, memory=memory)
    assert cache.redis is None
    assert cache.db is None
    assert cache.memory is memory
    assert cache.overtime.deadline == DEFAULT_USER_DEADLINE_SECONDS


def test_the_user_deadline_reaches_the_overtime() -> None:
    cache = build_cache(None, memory=MemoryStore(), user_deadline=2.5)
    assert cache.overtime.deadline == 2.5


async def test_the_redis_tier_runs_on_the_link_handed_in() -> None:
    link = RedisLink("redis://127.0.0.1:1/0", prefix="dep1")
    memory = MemoryStore()
    cache = build_cache(None, memory=memory, redis_link=link)
    assert cache.memory is memory
    assert isinstance(cache.redis, RedisStore)
    assert cache.redis.prefix == "dep1"
    assert link.uses == {"cache", "singleflight"}
    await cache.aclose()
    await link.aclose()  # the (never connected) pool
