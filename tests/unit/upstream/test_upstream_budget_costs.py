"""Weighted calls: each attempt spends its cost; the background reserve holds with costs."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from cachefront.errors import BudgetExhaustedError
from cachefront.upstream import OutboundBudget, RetryPolicy, UpstreamClient

NO_WAIT = RetryPolicy(attempts=2, backoff=0, backoff_max=0)


def _budget(limit: str, background_share: float = 0.5) -> OutboundBudget:
    return OutboundBudget(
        limit, name=f"cost-{uuid.uuid4().hex[:8]}", background_share=background_share
    )


async def test_a_call_spends_its_cost() -> None:
    async with _budget("10/minute") as budget:
        await budget.acquire("user", max_wait=0.1, cost=4)
        await budget.acquire("user", max_wait=0.1, cost=4)
        with pytest.raises(BudgetExhaustedError, match="costing 4"):
            await budget.acquire("user", max_wait=0.1, cost=4)
        await budget.acquire("user", max_wait=0.1, cost=2)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("user", max_wait=0.1)


async def test_background_cost_keeps_the_user_reserve() -> None:
    # 10 units, half for background: a background call is admitted only while 5 units
    # stay free for users after it.
    async with _budget("10/minute") as budget:
        await budget.acquire("background", max_wait=0.1, cost=3)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("background", max_wait=0.1, cost=3)
        await budget.acquire("background", max_wait=0.1, cost=2)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("background", max_wait=0.1, cost=1)
        await budget.acquire("user", max_wait=0.1, cost=5)


async def test_background_yields_to_weighted_user_spending() -> None:
    async with _budget("10/minute") as budget:
        await budget.acquire("user", max_wait=0.1, cost=4)
        await budget.acquire("background", max_wait=0.1, cost=1)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("background", max_wait=0.1, cost=1)


async def test_a_cost_above_the_whole_limit_fails_at_once() -> None:
    async with _budget("10/minute") as budget:
        started = time.monotonic()
        with pytest.raises(ValueError, match="costing 11 can never fit"):
            await budget.acquire("user", max_wait=30, cost=11)
        assert time.monotonic() - started < 0.1


async def test_a_background_cost_above_its_share_fails_at_once() -> None:
    async with _budget("10/minute") as budget:
        started = time.monotonic()
        with pytest.raises(BudgetExhaustedError, match="background share"):
            await budget.acquire("background", max_wait=30, cost=6)
        assert time.monotonic() - started < 0.1
        await budget.acquire("user", max_wait=0.1, cost=6)  # a user call may


@pytest.mark.parametrize("cost", [0, -3])
async def test_a_cost_below_one_is_refused(cost: int) -> None:
    async with _budget("10/minute") as budget:
        with pytest.raises(ValueError, match="at least 1"):
            await budget.acquire("user", max_wait=0.1, cost=cost)


async def test_every_attempt_spends_the_cost() -> None:
    replies = iter([httpx.Response(503), httpx.Response(200)])
    budget = _budget("10/minute")
    async with UpstreamClient(
        "weighted",
        retry=NO_WAIT,
        budget=budget,
        transport=httpx.MockTransport(lambda request: next(replies)),
    ) as client:
        response = await client.request("GET", "https://upstream.test/x", cost=4)
        assert response.status_code == 200
        # Two attempts of 4: 2 units left.
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("user", max_wait=0.1, cost=3)
        await budget.acquire("user", max_wait=0.1, cost=2)


async def test_the_client_refuses_an_impossible_cost_without_calling() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    async with UpstreamClient(
        "weighted", budget=_budget("10/minute"), transport=httpx.MockTransport(answer)
    ) as client:
        with pytest.raises(ValueError, match="never fit"):
            await client.request("GET", "https://upstream.test/x", cost=80)
    assert calls == []
