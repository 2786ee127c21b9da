"""The outbound budget shared through a real Redis, and what it does when Redis is gone."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from upstream_testserver import ScriptedRoute, TcpProxy

from cachefront.errors import BudgetExhaustedError
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.redis_link import RedisLink
from cachefront.upstream import (
    BreakerPolicy,
    OutboundBudget,
    RetryPolicy,
    UpstreamClient,
    build_upstream_client,
)

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
LINK_LOGGER = "cachefront.redis_link"
# Longer than the production timeout: on a loaded test machine a live Redis can take
# more than 0.25 s to answer, and the budget would rightly count in memory instead.
TEST_SOCKET_TIMEOUT = 2.0

MakeLink = Callable[..., RedisLink]


def _name() -> str:
    return f"shared-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_link(redis_prefix: str) -> AsyncIterator[MakeLink]:
    """Builds Redis links (one per simulated process); closes them after the test."""
    links: list[RedisLink] = []

    def make(url: str, **options: float) -> RedisLink:
        options.setdefault("socket_timeout", TEST_SOCKET_TIMEOUT)
        link = RedisLink(url, prefix=redis_prefix, **options)
        links.append(link)
        return link

    yield make
    for link in links:
        await link.aclose()


@pytest.mark.redis
async def test_two_budgets_share_one_redis_window(
    redis_url: str, make_link: MakeLink, route: ScriptedRoute
) -> None:
    name = _name()
    # Two links: two processes sharing one Redis.
    budgets = [
        OutboundBudget("3/minute", name=name, redis_link=make_link(redis_url)) for _ in range(2)
    ]
    clients = [
        UpstreamClient("shared", retry=RetryPolicy(attempts=1), budget=budget) for budget in budgets
    ]
    async with clients[0] as first, clients[1] as second:
        assert first.budget is not None
        assert first.budget.using_redis
        await first.request("GET", route.url)
        await second.request("GET", route.url)
        await first.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await second.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await first.request("GET", route.url)

    assert route.hits == 3


@pytest.mark.redis
async def test_background_share_holds_across_processes(redis_url: str, make_link: MakeLink) -> None:
    name = _name()
    first = OutboundBudget("4/minute", name=name, redis_link=make_link(redis_url))
    second = OutboundBudget("4/minute", name=name, redis_link=make_link(redis_url))
    async with first, second:
        await first.acquire("background", max_wait=0.1)
        await second.acquire("background", max_wait=0.1)
        with pytest.raises(BudgetExhaustedError):
            await first.acquire("background", max_wait=0.1)
        await second.acquire("user", max_wait=0.1)


async def test_unreachable_redis_degrades_to_memory(
    make_link: MakeLink, route: ScriptedRoute, caplog: pytest.LogCaptureFixture
) -> None:
    budget = OutboundBudget("3/minute", name=_name(), redis_link=make_link(UNREACHABLE_REDIS))
    records: list[UpstreamCallRecord] = []
    caplog.set_level(logging.WARNING, logger=LINK_LOGGER)
    async with UpstreamClient(
        "degraded", retry=RetryPolicy(attempts=1), budget=budget, recorder=records.append
    ) as client:
        assert not budget.using_redis
        for _ in range(3):
            await client.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url)

    assert route.hits == 3
    assert [r.outcome for r in records] == ["ok", "ok", "ok", "budget_exhausted"]
    down = [r for r in caplog.records if getattr(r, "action", None) == "redis.down"]
    assert [getattr(r, "redis_use", None) for r in down] == [budget.redis_use]


@pytest.mark.redis
async def test_budget_goes_back_to_redis_when_it_returns(
    redis_proxy: tuple[TcpProxy, str], make_link: MakeLink, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, proxied_url = redis_proxy
    name = _name()
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    link = make_link(proxied_url, backoff_first=0.2, backoff_max=0.2)
    budget = OutboundBudget("5/minute", name=name, redis_link=link)
    async with budget:
        await budget.acquire("user", max_wait=1)
        assert budget.using_redis

        await proxy.stop()
        for _ in range(3):
            await budget.acquire("user", max_wait=1)  # counted in memory, no error
        assert not budget.using_redis

        await proxy.start()
        await asyncio.sleep(0.25)
        await budget.acquire("user", max_wait=1)
        assert budget.using_redis

    actions = [getattr(r, "action", None) for r in caplog.records]
    assert actions.count("redis.down") == 1
    assert actions.count("redis.up") == 1

    # Redis saw the units spent while it was up (1 before, 1 after): 3 left.
    async with OutboundBudget("5/minute", name=name, redis_link=make_link(proxied_url)) as observer:
        for _ in range(3):
            await observer.acquire("user", max_wait=0.1)
        with pytest.raises(BudgetExhaustedError):
            await observer.acquire("user", max_wait=0.1)


@pytest.mark.redis
async def test_factory_builds_a_client_whose_budget_runs_on_the_link(
    redis_url: str, make_link: MakeLink, route: ScriptedRoute
) -> None:
    records: list[UpstreamCallRecord] = []
    route.script(503, 200)
    async with build_upstream_client(
        f"factory-{uuid.uuid4().hex[:8]}",
        budget_limit="10/minute",
        background_share=0.5,
        recorder=records.append,
        timeout=5,
        retry=RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.02),
        breaker=BreakerPolicy(failure_threshold=3, reset_seconds=1),
        redis_link=make_link(redis_url),
    ) as client:
        assert client.budget is not None
        assert client.budget.using_redis
        assert client.budget.background_amount == 5
        assert client.breaker.policy.failure_threshold == 3
        response = await client.request("GET", route.url)

    assert response.status_code == 200
    assert records[0].attempts == 2
