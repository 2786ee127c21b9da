"""Assembles the tiered cache from the stores and limits it is handed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.engine import TieredCache
from cachefront.cache.invalidation import Announcer
from cachefront.cache.keys import (
    DEFAULT_LOCK_SECONDS,
    DEFAULT_READ_FLUSH_SECONDS,
    DEFAULT_READ_RESOLUTION_SECONDS,
    DEFAULT_USER_DEADLINE_SECONDS,
)
from cachefront.cache.memory import MemoryStore
from cachefront.cache.overtime import Overtime
from cachefront.cache.postgres_store import PostgresStore
from cachefront.cache.reads import ReadLog
from cachefront.cache.redis_store import RedisStore
from cachefront.cache.singleflight import SingleFlight
from cachefront.redis_link import RedisLink

__all__ = ["build_cache"]


def build_cache(
    engine: AsyncEngine | None,
    *,
    memory: MemoryStore,
    redis_link: RedisLink | None = None,
    lock_seconds: float = DEFAULT_LOCK_SECONDS,
    user_deadline: float = DEFAULT_USER_DEADLINE_SECONDS,
    announcer: Announcer | None = None,
    quota_namespaces: frozenset[str] = frozenset(),
    read_flush_seconds: float = DEFAULT_READ_FLUSH_SECONDS,
    read_resolution_seconds: float = DEFAULT_READ_RESOLUTION_SECONDS,
) -> TieredCache:
    """The cache over ``memory``, plus Redis and PostgreSQL when their handles are given.

    ``memory`` is handed in because something else (the HTTP fast path) must hold the
    same store before the cache itself is built. ``redis_link`` is the process's Redis
    link, which the cache shares with the limiter and the budgets; whoever built it
    closes it. The single-flight locks use whichever shared tiers exist. ``announcer``
    keeps the memory tiers of every process in step (opened and closed with the cache).
    ``quota_namespaces``: the namespaces whose reads are recorded in PostgreSQL for
    quota eviction (``cachefront.cache.reads``); none, or no engine, records nothing.
    """
    store = RedisStore(redis_link) if redis_link is not None else None
    db = PostgresStore(engine) if engine is not None else None
    locks = SingleFlight(redis=store, db=db, lock_seconds=lock_seconds)
    overtime = Overtime(deadline=user_deadline)
    reads = None
    if engine is not None and quota_namespaces:
        reads = ReadLog(
            quota_namespaces,
            engine=engine,
            flush_seconds=read_flush_seconds,
            resolution_seconds=read_resolution_seconds,
        )
    return TieredCache(
        memory=memory,
        redis=store,
        db=db,
        locks=locks,
        overtime=overtime,
        announcer=announcer,
        reads=reads,
    )
