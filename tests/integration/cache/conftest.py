"""The cache's fixtures against real PostgreSQL and Redis, shared with tests/faults/."""

from __future__ import annotations

from cache_fixtures import make_cache, ns, own_redis, redis_client, redis_store

__all__ = ["make_cache", "ns", "own_redis", "redis_client", "redis_store"]
