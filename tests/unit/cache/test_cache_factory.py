"""build_cache: the settings decide which tiers exist and how big memory is."""

from __future__ import annotations

from pydantic import SecretStr

from cachefront.cache import MemoryStore, RedisStore, build_cache
from cachefront.config import Settings


def test_without_redis_or_engine_only_memory_exists() -> None:
    settings = Settings(redis_url=None, memory_cache_bytes=1234, memory_cache_max_entry_bytes=99)
    cache = build_cache(settings, None)
    assert cache.redis is None
    assert cache.db is None
    assert (cache.memory.max_bytes, cache.memory.max_entry_bytes) == (1234, 99)


async def test_redis_url_and_prefix_come_from_settings() -> None:
    settings = Settings(
        redis_url=SecretStr("redis://127.0.0.1:1/0"),
        redis_prefix="dep1",
        redis_socket_timeout_seconds=1.5,
    )
    memory = MemoryStore()
    cache = build_cache(settings, None, memory=memory)
    assert cache.memory is memory
    assert isinstance(cache.redis, RedisStore)
    assert cache.redis.prefix == "dep1"
    pool_options = cache.redis._client.connection_pool.connection_kwargs
    assert pool_options["socket_timeout"] == 1.5
    await cache.aclose()  # closes the (never connected) Redis client
