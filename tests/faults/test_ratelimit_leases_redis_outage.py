"""Redis going away under leased limits: units in hand are spent, then counting goes local.

The test runs a Redis server of its own so that it can stop it and start it again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.redis_link import RedisLink

pytestmark = pytest.mark.faults

if TYPE_CHECKING:
    from cache_fixtures import RedisServer


async def test_leased_limits_count_in_memory_while_redis_is_away(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachefront.redis_link")
    link = RedisLink(own_redis.url, prefix="cflease", socket_timeout=2.0, backoff_first=0.2)
    limiter = InboundLimiter(
        parse_rate_limits({"general": "400/minute"}), redis_link=link, exact=False
    )
    await limiter.open()
    try:
        first = await limiter.hit("general", "ip:outage")
        assert first.leased
        own_redis.stop()
        # The lease already counted in Redis is still spent from memory: 20 units.
        in_lease = [await limiter.hit("general", "ip:outage") for _ in range(19)]
        assert all(v.allowed and v.leased for v in in_lease)
        # Then the refill fails: the link goes down (logged once) and memory counts.
        after = [await limiter.hit("general", "ip:outage") for _ in range(5)]
        assert all(v.allowed for v in after)
        assert not after[-1].in_redis
        assert not limiter.using_redis
        downs = [r for r in caplog.records if getattr(r, "action", "") == "redis.down"]
        assert len(downs) == 1
    finally:
        own_redis.start()
        await limiter.aclose()
        await link.aclose()
