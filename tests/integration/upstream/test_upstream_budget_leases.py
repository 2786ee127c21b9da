"""Outbound budgets leasing blocks of units from a real Redis: fewer round trips, never over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from cachefront.errors import BudgetExhaustedError
from cachefront.redis_keys import budget_key_prefix
from cachefront.redis_link import RedisLink
from cachefront.upstream import OutboundBudget

pytestmark = pytest.mark.redis

# Longer than the production timeout, so a loaded machine does not send a budget to memory.
TEST_SOCKET_TIMEOUT = 2.0


@pytest.fixture
async def links(redis_url: str, redis_prefix: str) -> AsyncIterator[list[RedisLink]]:
    """Three links: three processes sharing one Redis."""
    made = [
        RedisLink(redis_url, prefix=redis_prefix, socket_timeout=TEST_SOCKET_TIMEOUT)
        for _ in range(3)
    ]
    yield made
    for link in made:
        await link.aclose()


async def _window_entries(redis_url: str, redis_prefix: str, name: str) -> list[bytes]:
    """The shared moving window's entries: one time per unit counted, one time per write."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = await client.keys(f"{budget_key_prefix(redis_prefix)}:LIMITER/{name}/*")
        assert len(keys) == 1, keys
        entries: list[bytes] = await client.lrange(keys[0], 0, -1)
        return entries
    finally:
        await client.aclose()


async def _spend_paced(budget: OutboundBudget, seconds: float, pause: float) -> int:
    """Spend one unit per ``pause`` for ``seconds``; how many were admitted."""
    admitted = 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        try:
            await budget.acquire("user", max_wait=0)
        except BudgetExhaustedError:
            pass
        else:
            admitted += 1
        await asyncio.sleep(pause)
    return admitted


async def test_a_steady_stream_reaches_redis_in_blocks(
    links: list[RedisLink], redis_url: str, redis_prefix: str
) -> None:
    name = f"leased-{uuid.uuid4().hex[:8]}"
    async with OutboundBudget("60000/minute", name=name, redis_link=links[0]) as budget:
        admitted = await _spend_paced(budget, seconds=2.5, pause=0.004)

    entries = await _window_entries(redis_url, redis_prefix, name)
    writes = len(set(entries))
    assert admitted > 100
    # Every unit spent was counted in Redis first (the block's rest is counted, unspent).
    assert len(entries) >= admitted
    # The first second is exact, one write a call; after it blocks of a second's spend.
    assert writes < 0.7 * admitted, (writes, admitted)


async def test_three_processes_never_admit_more_than_the_limit(links: list[RedisLink]) -> None:
    name = f"leased-{uuid.uuid4().hex[:8]}"
    budgets = [OutboundBudget("600/minute", name=name, redis_link=link) for link in links]
    for budget in budgets:
        await budget.open()
    try:
        # 3 x ~150/s: the limit is reached after the first second, with leases in use.
        admitted = await asyncio.gather(
            *(_spend_paced(budget, seconds=4.0, pause=0.0066) for budget in budgets)
        )
    finally:
        for budget in budgets:
            await budget.aclose()
    # Never more than the limit; at least 90% of it usable (a block is at most 2% of it).
    assert 540 <= sum(admitted) <= 600, admitted


async def test_background_calls_count_leased_units_against_the_user_reserve(
    links: list[RedisLink], redis_url: str, redis_prefix: str
) -> None:
    name = f"leased-{uuid.uuid4().hex[:8]}"
    worker = OutboundBudget("600/minute", name=name, redis_link=links[0], background_share=0.1)
    app = OutboundBudget("600/minute", name=name, redis_link=links[1], background_share=0.1)
    async with worker, app:
        # ~13 user calls a second for 1.5 s: the second second's calls take a block.
        spent = await _spend_paced(app, seconds=1.5, pause=0.075)
        counted = len(await _window_entries(redis_url, redis_prefix, name))
        assert counted > spent  # the block's unspent rest is counted too
        # Background may use 60 of 600 while 540 stay for users, blocks included.
        background = 0
        for _ in range(100):
            try:
                await worker.acquire("background", max_wait=0)
            except BudgetExhaustedError:
                break
            background += 1
    assert background == 60 - counted
