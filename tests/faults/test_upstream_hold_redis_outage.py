"""Redis going away during an upstream hold: every process that knew of it keeps holding.

The test runs a Redis server of its own so that it can stop it mid-hold.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from cachefront.errors import BudgetExhaustedError, UpstreamStatusError
from cachefront.redis_link import RedisLink
from cachefront.upstream import OutboundBudget, RetryPolicy, ServerSignals, UpstreamClient

pytestmark = pytest.mark.faults

if TYPE_CHECKING:
    from cache_fixtures import RedisServer

SIGNALS = ServerSignals(hold_statuses=frozenset({418}))
LINK_LOGGER = "cachefront.redis_link"
URL = "https://upstream.test/x"


class Upstream:
    """Bans the first caller for 2 s, then answers; counts what arrived."""

    def __init__(self) -> None:
        self.hits = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hits += 1
        if self.hits == 1:
            return httpx.Response(418, headers={"Retry-After": "2"})
        return httpx.Response(200)


def _client(link: RedisLink, name: str, upstream: Upstream) -> UpstreamClient:
    budget = OutboundBudget("100/minute", name=name, redis_link=link, signals=SIGNALS)
    return UpstreamClient(
        name,
        retry=RetryPolicy(attempts=1),
        budget=budget,
        transport=httpx.MockTransport(upstream),
    )


async def test_a_hold_read_from_redis_outlives_the_outage(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LINK_LOGGER)
    name = f"outage-{uuid.uuid4().hex[:8]}"
    upstream = Upstream()
    links = [RedisLink(own_redis.url, prefix="cfhold", socket_timeout=2.0) for _ in range(2)]
    try:
        async with (
            _client(links[0], name, upstream) as banned,
            _client(links[1], name, upstream) as other,
        ):
            with pytest.raises(UpstreamStatusError):
                await banned.request("GET", URL)
            with pytest.raises(BudgetExhaustedError, match="on hold"):
                await other.request("GET", URL)  # learnt from Redis

            own_redis.stop()
            for client in (banned, other):
                with pytest.raises(BudgetExhaustedError, match="on hold"):
                    await client.request("GET", URL)
            assert upstream.hits == 1
            assert links[1].down

            assert other.budget is not None
            await asyncio.sleep(await other.budget.hold.remaining())
            response = await other.request("GET", URL)
            assert response.status_code == 200
            assert upstream.hits == 2
    finally:
        for link in links:
            await link.aclose()

    down = [r for r in caplog.records if getattr(r, "action", None) == "redis.down"]
    assert len(down) == 2  # one line per process
