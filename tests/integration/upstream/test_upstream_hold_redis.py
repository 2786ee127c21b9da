"""Holds and reported usage shared through a real Redis: what one process learns, all obey."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio
from upstream_testserver import Reply, ScriptedRoute

from cachefront.errors import BudgetExhaustedError, UpstreamStatusError
from cachefront.redis_keys import hold_key
from cachefront.redis_link import RedisLink
from cachefront.upstream import OutboundBudget, RetryPolicy, ServerSignals, UpstreamClient

WEIGHT = "X-MBX-USED-WEIGHT-1m"
SIGNALS = ServerSignals(used_header=WEIGHT, hold_statuses=frozenset({418, 429}))
RETRIES = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.02)
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
# A loaded test machine can take more than the production 0.25 s to answer.
TEST_SOCKET_TIMEOUT = 2.0

MakeClient = Callable[[str, str], UpstreamClient]


def _name() -> str:
    return f"held-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_client(redis_prefix: str) -> AsyncIterator[MakeClient]:
    """Builds a client over a link of its own: one simulated process per call."""
    links: list[RedisLink] = []

    def make(url: str, name: str) -> UpstreamClient:
        link = RedisLink(url, prefix=redis_prefix, socket_timeout=TEST_SOCKET_TIMEOUT)
        links.append(link)
        budget = OutboundBudget("10/minute", name=name, redis_link=link, signals=SIGNALS)
        return UpstreamClient(name, retry=RETRIES, budget=budget)

    yield make
    for link in links:
        await link.aclose()


@pytest.mark.redis
async def test_a_418_seen_by_one_process_stops_the_other(
    redis_url: str, redis_prefix: str, make_client: MakeClient, route: ScriptedRoute
) -> None:
    name = _name()
    route.script(Reply(418, headers={"Retry-After": "2"}), 200)
    async with make_client(redis_url, name) as first, make_client(redis_url, name) as second:
        with pytest.raises(UpstreamStatusError):
            await first.request("GET", route.url)

        inspector = redis.asyncio.Redis.from_url(redis_url)
        try:
            left_ms = await inspector.pttl(hold_key(redis_prefix, name))
            status = await inspector.get(hold_key(redis_prefix, name))
        finally:
            await inspector.aclose()
        assert 1000 < left_ms <= 2000
        assert status == b"418"

        started = time.monotonic()
        with pytest.raises(BudgetExhaustedError, match="on hold"):
            await second.request("GET", route.url, deadline=5)
        assert time.monotonic() - started < 0.5
        with pytest.raises(BudgetExhaustedError, match="on hold"):
            await second.request("GET", route.url, priority="background", deadline=0.5)
        assert route.hits == 1

        # The second process waits out the hold it only read about, then calls.
        response = await second.request("GET", route.url, priority="background", deadline=5)
        assert response.status_code == 200
        assert route.hits == 2


@pytest.mark.redis
async def test_a_shorter_hold_never_cuts_a_longer_one(
    redis_url: str, make_client: MakeClient
) -> None:
    name = _name()
    async with make_client(redis_url, name) as first, make_client(redis_url, name) as second:
        assert first.budget is not None
        assert second.budget is not None
        await first.budget.hold.start(3, status=418)
        await second.budget.hold.start(1, status=429)
        assert await second.budget.hold.remaining() > 2


@pytest.mark.redis
async def test_reported_usage_slows_every_process(
    redis_url: str, make_client: MakeClient, route: ScriptedRoute
) -> None:
    name = _name()
    # Someone else on our address spent 7 of the window.
    route.script(Reply(200, headers={WEIGHT: "8"}))
    async with make_client(redis_url, name) as first, make_client(redis_url, name) as second:
        await first.request("GET", route.url)
        assert second.budget is not None
        await second.budget.acquire("user", max_wait=0.1, cost=2)
        with pytest.raises(BudgetExhaustedError):
            await second.budget.acquire("user", max_wait=0.1)


@pytest.mark.redis
async def test_weighted_calls_spend_one_shared_window(
    redis_url: str, make_client: MakeClient, route: ScriptedRoute
) -> None:
    name = _name()
    async with make_client(redis_url, name) as first, make_client(redis_url, name) as second:
        await first.request("GET", route.url, cost=4)
        await second.request("GET", route.url, cost=4)
        with pytest.raises(BudgetExhaustedError):
            await first.request("GET", route.url, cost=4, deadline=0.5)
        await second.request("GET", route.url, cost=2)
    assert route.hits == 3


async def test_without_redis_the_hold_still_holds_this_process(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    route.script(Reply(429, headers={"Retry-After": "1"}), 200)
    async with make_client(UNREACHABLE_REDIS, _name()) as client:
        with pytest.raises(UpstreamStatusError):
            await client.request("GET", route.url, deadline=5)
        with pytest.raises(BudgetExhaustedError, match="on hold"):
            await client.request("GET", route.url, deadline=5)
        assert route.hits == 1
        await asyncio.sleep(1.0)
        response = await client.request("GET", route.url)
    assert response.status_code == 200
    assert route.hits == 2
