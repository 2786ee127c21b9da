"""The usage an upstream reports in a header raises the budget's own count, never lowers it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from cachefront.errors import BudgetExhaustedError
from cachefront.upstream import OutboundBudget, RetryPolicy, ServerSignals, UpstreamClient

WEIGHT = "X-MBX-USED-WEIGHT-1m"
ONE_ATTEMPT = RetryPolicy(attempts=1)


def _client(used: str, signals: ServerSignals, limit: str = "10/minute") -> UpstreamClient:
    budget = OutboundBudget(limit, name=f"usage-{uuid.uuid4().hex[:8]}", signals=signals)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={WEIGHT: used}))
    return UpstreamClient("usage", retry=ONE_ATTEMPT, budget=budget, transport=transport)


async def _room_left(budget: OutboundBudget | None) -> int:
    """Spend the budget's rest one unit at a time; how many units there were."""
    assert budget is not None
    spent = 0
    while True:
        try:
            await budget.acquire("user", max_wait=0)
        except BudgetExhaustedError:
            return spent
        spent += 1


async def test_a_higher_report_raises_the_count() -> None:
    # Another client on our address spent 7: one call of ours leaves 3, not 9.
    async with _client("8", ServerSignals(used_header=WEIGHT.lower())) as client:
        await client.request("GET", "https://upstream.test/x")
        assert await _room_left(client.budget) == 2


async def test_a_lower_report_never_lowers_the_count() -> None:
    async with _client("1", ServerSignals(used_header=WEIGHT)) as client:
        await client.request("GET", "https://upstream.test/x", cost=5)
        assert await _room_left(client.budget) == 5


async def test_the_report_is_scaled_onto_our_share() -> None:
    signals = ServerSignals(used_header=WEIGHT, published_limit=100)
    async with _client("60", signals) as client:  # 60 of 100 is 6 of our 10
        await client.request("GET", "https://upstream.test/x")
        assert await _room_left(client.budget) == 4


async def test_without_a_header_name_the_report_is_not_read() -> None:
    async with _client("8", ServerSignals()) as client:
        await client.request("GET", "https://upstream.test/x")
        assert await _room_left(client.budget) == 9


async def test_a_full_report_leaves_no_room_for_a_user_call() -> None:
    async with _client("10", ServerSignals(used_header=WEIGHT)) as client:
        await client.request("GET", "https://upstream.test/x")
        with pytest.raises(BudgetExhaustedError):
            await client.request("GET", "https://upstream.test/x", deadline=0.5)
