"""Redis restarting under the invalidation listener: it listens again and drops its memory.

Messages sent while a listener is away are lost, so coming back it must not trust
anything its memory tier holds. The test runs a Redis server of its own to restart it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from cachefront.cache.entry import CacheEntry
from cachefront.cache.invalidation_redis import RedisAnnouncer
from cachefront.cache.memory import MemoryStore
from cachefront.redis_link import RedisLink

pytestmark = pytest.mark.faults

if TYPE_CHECKING:
    from cache_fixtures import RedisServer


def _entry() -> CacheEntry:
    now = time.time()
    return CacheEntry(b"v", etag="e", stored_at=now, fresh_until=now + 60, expires_at=now + 60)


async def _until(check: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_listener_back_after_a_gap_drops_its_memory_tier(own_redis: RedisServer) -> None:
    links = [RedisLink(own_redis.url, prefix="cfinv", socket_timeout=1.0) for _ in range(2)]
    memories = [MemoryStore(), MemoryStore()]
    announcers = [
        RedisAnnouncer(link, memory) for link, memory in zip(links, memories, strict=True)
    ]
    try:
        for announcer in announcers:
            await announcer.open()
        memories[1].put("ns", "a", _entry())
        memories[1].put("ns", "b", _entry())
        await announcers[0].announce("ns", ["a"])
        await _until(lambda: memories[1].peek("ns", "a") is None, 1.0)
        assert memories[1].peek("ns", "b") is not None
        assert announcers[1].resyncs == 0

        own_redis.stop()
        # While Redis is away, this process's memory goes on serving what it holds.
        await asyncio.sleep(0.3)
        assert memories[1].peek("ns", "b") is not None
        own_redis.start()
        # Subscribed again: whatever was announced meanwhile is lost, so all goes.
        await _until(lambda: announcers[1].resyncs == 1, 5.0)
        assert len(memories[1]) == 0

        # And messages flow again.
        await asyncio.sleep(0.6)  # past the link's backoff after the failed commands
        memories[1].put("ns", "c", _entry())
        await _until(lambda: links[0].available, 5.0)
        await announcers[0].announce("ns", ["c"])
        await _until(lambda: memories[1].peek("ns", "c") is None, 2.0)
    finally:
        for announcer in announcers:
            await announcer.aclose()
        for link in links:
            await link.aclose()
