"""Builds the tiered cache a deployment's settings describe."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.engine import TieredCache
from cachefront.cache.memory import MemoryStore
from cachefront.cache.overtime import Overtime
from cachefront.cache.postgres_store import PostgresStore
from cachefront.cache.redis_store import RedisStore
from cachefront.cache.singleflight import SingleFlight
from cachefront.config import Settings
from cachefront.redis_link import RedisLink

__all__ = ["build_cache"]


def build_cache(
    settings: Settings,
    engine: AsyncEngine | None,
    *,
    memory: MemoryStore | None = None,
    redis_link: RedisLink | None = None,
) -> TieredCache:
    """The cache the settings describe: memory always, Redis and PostgreSQL when given.

    Pass ``memory`` when something else (the HTTP fast path) must hold the same store
    before the cache itself is built. ``redis_link`` is the process's Redis link, which the
    cache shares with the limiter and the budgets; whoever built it closes it.
    """
    if memory is None:
        memory = MemoryStore(
            max_bytes=settings.memory_cache_bytes,
            max_entry_bytes=settings.memory_cache_max_entry_bytes,
        )
    store = RedisStore(redis_link) if redis_link is not None else None
    db = PostgresStore(engine) if engine is not None else None
    locks = SingleFlight(redis=store, db=db, lock_seconds=settings.singleflight_lock_seconds)
    overtime = Overtime(deadline=settings.user_deadline_seconds)
    return TieredCache(memory=memory, redis=store, db=db, locks=locks, overtime=overtime)
