"""The outbound budget of UpstreamClient (in memory) against a real HTTP server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from upstream_testserver import ScriptedRoute

from cachefront.errors import BudgetExhaustedError
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream import OutboundBudget, RetryPolicy, UpstreamClient

MakeClient = Callable[..., UpstreamClient]


@pytest.fixture
def records() -> list[UpstreamCallRecord]:
    return []


@pytest.fixture
async def make_client(records: list[UpstreamCallRecord]) -> AsyncIterator[MakeClient]:
    clients: list[UpstreamClient] = []

    def make(limit: str, *, attempts: int = 1, **budget_kwargs: Any) -> UpstreamClient:
        budget = OutboundBudget(limit, name=f"budgeted-{uuid.uuid4().hex[:8]}", **budget_kwargs)
        client = UpstreamClient(
            "budgeted",
            retry=RetryPolicy(attempts=attempts, backoff=0.01, backoff_max=0.02),
            budget=budget,
            recorder=records.append,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_sixth_user_call_in_the_second_waits_for_room(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    async with make_client("5/second") as client:
        started = time.monotonic()
        for _ in range(6):
            await client.request("GET", route.url)
        elapsed = time.monotonic() - started

    assert route.hits == 6
    assert 0.8 < elapsed < 2.0  # the sixth waited for the first to leave the window


async def test_user_call_fails_when_no_room_comes_soon(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    async with make_client("5/minute") as client:
        for _ in range(5):
            await client.request("GET", route.url)
        started = time.monotonic()
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url, deadline=10)
        elapsed = time.monotonic() - started

    assert elapsed < 0.5  # no room for a minute: no point waiting the 2 s
    assert route.hits == 5
    assert records[-1].outcome == "budget_exhausted"
    assert records[-1].status is None


async def test_user_waits_at_most_max_user_wait_but_background_waits_its_deadline(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    async with make_client("1/second", max_user_wait=0.3, background_share=1.0) as client:
        await client.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url, deadline=5)
        started = time.monotonic()
        await client.request("GET", route.url, priority="background", deadline=5)
        waited = time.monotonic() - started

    assert 0.5 < waited < 2.0
    assert route.hits == 2


async def test_retries_spend_budget(make_client: MakeClient, route: ScriptedRoute) -> None:
    route.script(503, 503, 200, 200)
    async with make_client("3/minute", attempts=3) as client:
        response = await client.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url)

    assert response.status_code == 200
    assert route.hits == 3


async def test_background_is_refused_when_only_the_user_share_remains(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    # 4 per minute, half for background: background stops once 2 are used.
    async with make_client("4/minute", background_share=0.5) as client:
        await client.request("GET", route.url)
        await client.request("GET", route.url, priority="background")
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url, priority="background", deadline=1)
        await client.request("GET", route.url)
        await client.request("GET", route.url)
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", route.url)

    assert route.hits == 4


async def test_background_cannot_take_the_user_share_concurrently(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    async with make_client("6/minute", background_share=0.5) as client:
        results = await asyncio.gather(
            *(
                client.request("GET", route.url, priority="background", deadline=0.5)
                for _ in range(6)
            ),
            return_exceptions=True,
        )
        ok = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BudgetExhaustedError)]
        assert (len(ok), len(refused)) == (3, 3)
        for _ in range(3):
            await client.request("GET", route.url)
