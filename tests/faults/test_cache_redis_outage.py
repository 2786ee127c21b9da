"""Redis going away mid-run: the cache keeps answering without it, and uses it again after.

The test runs a Redis server of its own so that it can stop and restart it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import redis

from cachefront.cache import CachePolicy, Tier
from cachefront.redis_keys import cache_key

pytestmark = pytest.mark.faults

if TYPE_CHECKING:
    from cache_fixtures import CacheFactory, RedisServer

POLICY = CachePolicy(fresh_for=timedelta(minutes=10))
LINK_LOGGER = "cachefront.redis_link"


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(0.05)
        return b'{"ok":true}'


async def _never() -> bytes:
    raise AssertionError("must not fetch")


def _actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(getattr(record, "action", ""))
        for record in caplog.records
        if record.name == LINK_LOGGER
    ]


async def test_outage_degrades_silently_and_redis_is_used_again_after_restart(
    make_cache: CacheFactory,
    own_redis: RedisServer,
    redis_prefix: str,
    ns: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = redis.Redis.from_url(own_redis.url)
    try:
        cache = await make_cache(redis_url=own_redis.url)
        upstream = Upstream()
        first = await cache.get_or_fetch(ns, "before", upstream.fetch, POLICY)
        assert first.tier is Tier.UPSTREAM
        assert raw.exists(cache_key(redis_prefix, ns, "before"))

        own_redis.stop()
        with caplog.at_level(logging.INFO, logger=LINK_LOGGER):
            started = time.monotonic()
            hit = await cache.get_or_fetch(ns, "before", _never, POLICY)
            assert hit.tier is Tier.MEMORY
            during = await cache.get_or_fetch(ns, "during", upstream.fetch, POLICY)
            assert during.tier is Tier.UPSTREAM
            for i in range(50):
                assert await cache.get(ns, f"absent{i}", POLICY) is None
            # A cold cache of another process finds what was stored during the outage.
            other = await make_cache(redis_url=own_redis.url)
            from_db = await other.get_or_fetch(ns, "during", _never, POLICY)
            assert from_db.tier is Tier.DB
            assert time.monotonic() - started < 5.0  # a stall per call would add up to far more
            assert _actions(caplog).count("redis.down") == 2  # once per process (link)
            assert upstream.calls == 2

            own_redis.start()
            # Within the backoff (at most 0.4 s here) the stores try Redis again.
            for attempt in range(100):
                await cache.get_or_fetch(ns, f"after{attempt}", upstream.fetch, POLICY)
                if raw.exists(cache_key(redis_prefix, ns, f"after{attempt}")):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("Redis was not used again after it came back")
        assert "redis.up" in _actions(caplog)
        got = await other.get_or_fetch(ns, f"after{attempt}", _never, POLICY)
        assert got.tier in (Tier.REDIS, Tier.DB)
    finally:
        raw.close()


async def test_single_flight_holds_while_redis_is_down(
    make_cache: CacheFactory, own_redis: RedisServer, ns: str
) -> None:
    one = await make_cache(redis_url=own_redis.url)
    two = await make_cache(redis_url=own_redis.url)
    own_redis.stop()
    upstream = Upstream()
    results = await asyncio.gather(
        *(
            cache.get_or_fetch(ns, "hot", upstream.fetch, POLICY)
            for _ in range(50)
            for cache in (one, two)
        )
    )
    assert upstream.calls == 1  # PostgreSQL advisory locks stood in for the Redis lock
    assert len({result.entry.etag for result in results}) == 1
