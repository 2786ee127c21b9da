"""build_cache: the settings and the Redis link decide which tiers exist and how big memory is."""

from __future__ import annotations

from cachefront.cache import MemoryStore, RedisStore, build_cache
from cachefront.config import Settings
from cachefront.redis_link import RedisLink


def test_without_redis_or_engine_only_memory_exists() -> None:
    settings = Settings(redis_url=None, memory_cache_bytes=1234, memory_cache_max_entry_bytes=99)
    cache = build_cache(settings, None)
    assert cache.redis is None
    assert cache.db is None
    assert (cache.memory.max_bytes, cache.memory.max_entry_bytes) == (1234, 99)


async def test_the_redis_tier_runs_on_the_link_handed_in() -> None:
    link = RedisLink("redis://127.0.0.1:1/0", prefix="dep1")
    memory = MemoryStore()
    cache = build_cache(Settings(), None, memory=memory, redis_link=link)
    assert cache.memory is memory
    assert isinstance(cache.redis, RedisStore)
    assert cache.redis.prefix == "dep1"
    assert link.uses == {"cache", "singleflight"}
    await cache.aclose()
    await link.aclose()  # the (never connected) pool
