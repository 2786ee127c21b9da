"""The tiered read-through cache: memory, Redis and PostgreSQL in front of slow upstreams."""

from __future__ import annotations

from cachefront.cache.engine import Fetch, Fetched, FetchMany, TieredCache
from cachefront.cache.entry import Cached, CacheEntry, Tier, compute_etag, make_entry
from cachefront.cache.factory import build_cache
from cachefront.cache.memory import MemoryStore
from cachefront.cache.overtime import Overtime
from cachefront.cache.policy import CachePolicy, Decision, Freshness, classify, decide
from cachefront.cache.postgres_store import PostgresStore
from cachefront.cache.redis_store import RedisStore
from cachefront.cache.singleflight import SingleFlight
from cachefront.cache.store import BatchStore, EntryStore

__all__ = [
    "BatchStore",
    "CacheEntry",
    "CachePolicy",
    "Cached",
    "Decision",
    "EntryStore",
    "Fetch",
    "FetchMany",
    "Fetched",
    "Freshness",
    "MemoryStore",
    "Overtime",
    "PostgresStore",
    "RedisStore",
    "SingleFlight",
    "Tier",
    "TieredCache",
    "build_cache",
    "classify",
    "compute_etag",
    "decide",
    "make_entry",
]
