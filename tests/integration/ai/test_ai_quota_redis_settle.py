"""Settling a Redis hold costs no round trip of its own: the difference rides on the
caller's next hold, or goes with every other one waiting in one script, and is never
lost while the process lives (closing sends what is left)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from cachefront.redis_keys import quota_key
from cachefront.services.ai.quota_redis import RedisCounters
from cachefront.services.ai.settle_backlog import SETTLE_SECONDS


class CountingRedis(Redis):
    """A real client that counts the commands it sends (a script call is one)."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[CountingRedis]:
    client = CountingRedis.from_url(redis_url)
    client.sent = []
    yield client
    await client.aclose()


async def _nothing_used(owner: str, day: object) -> int:
    return 0


def _owner() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


async def _day_in_redis(client: Redis, prefix: str, owner: str, now: datetime) -> int:
    key = quota_key(prefix, "ai", owner, "d" + now.strftime("%Y%m%d"))
    return int(await client.get(key) or 0)


async def test_a_settle_sends_nothing_and_the_next_hold_carries_it(
    redis_client: CountingRedis, redis_prefix: str
) -> None:
    counters = RedisCounters(redis_client, prefix=redis_prefix, ns="ai", seed=_nothing_used)
    owner, now = _owner(), datetime.now(UTC)
    assert (await counters.hold(owner, now, 100, 150, 2**62)).admitted
    redis_client.sent.clear()

    await counters.settle(owner, now.date(), 100, 10)

    assert redis_client.sent == []
    assert await _day_in_redis(redis_client, redis_prefix, owner, now) == 100
    assert (await counters.read(owner, now))[0] == 10  # this process counts it already
    # Without the settle this hold would pass the limit (100 + 100 > 150); with it, the
    # script applies the 90 given back first: one script call for both.
    redis_client.sent.clear()
    held = await counters.hold(owner, now, 100, 150, 2**62)
    assert (held.admitted, held.day_tokens) == (True, 110)
    assert redis_client.sent == ["EVALSHA"]
    assert await _day_in_redis(redis_client, redis_prefix, owner, now) == 110
    await counters.aclose()


async def test_waiting_settles_of_many_callers_go_in_one_script(
    redis_client: CountingRedis, redis_prefix: str
) -> None:
    counters = RedisCounters(redis_client, prefix=redis_prefix, ns="ai", seed=_nothing_used)
    owners, now = [_owner() for _ in range(20)], datetime.now(UTC)
    for owner in owners:
        await counters.hold(owner, now, 50, 1000, 2**62)
    redis_client.sent.clear()

    for owner in owners:
        await counters.settle(owner, now.date(), 50, 5)
    await asyncio.sleep(SETTLE_SECONDS * 4)

    assert redis_client.sent == ["EVALSHA"]
    for owner in owners:
        assert await _day_in_redis(redis_client, redis_prefix, owner, now) == 5
    await counters.aclose()


async def test_closing_sends_what_waits_and_never_counts_below_zero(
    redis_client: CountingRedis, redis_prefix: str, redis_url: str
) -> None:
    counters = RedisCounters(redis_client, prefix=redis_prefix, ns="ai", seed=_nothing_used)
    owner, now = _owner(), datetime.now(UTC)
    await counters.hold(owner, now, 30, 1000, 2**62)
    await counters.settle(owner, now.date(), 30, 0)
    await counters.settle(owner, now.date(), 30, 0)  # more given back than held: floor 0

    await counters.aclose()  # closes the client too; read what it sent with another

    assert redis_client.sent[-1] == "EVALSHA"
    async with Redis.from_url(redis_url) as reader:
        assert await _day_in_redis(reader, redis_prefix, owner, now) == 0
