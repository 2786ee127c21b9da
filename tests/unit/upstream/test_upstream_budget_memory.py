"""OutboundBudget counted in process memory: shares, waiting rules, configuration errors."""

from __future__ import annotations

import time
import uuid

import pytest

from cachefront.errors import BudgetExhaustedError, ConfigurationError, NotReadyError
from cachefront.upstream import OutboundBudget


def _budget(limit: str, **kwargs: float) -> OutboundBudget:
    return OutboundBudget(limit, name=f"unit-{uuid.uuid4().hex[:8]}", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limit", "share", "background"),
    [("10/minute", 0.5, 5), ("5/second", 0.5, 2), ("1/second", 0.5, 1), ("4/hour", 1.0, 4)],
)
def test_background_amount(limit: str, share: float, background: int) -> None:
    assert _budget(limit, background_share=share).background_amount == background


async def test_user_may_use_the_whole_budget() -> None:
    async with _budget("4/minute") as budget:
        for _ in range(4):
            await budget.acquire("user", max_wait=0.1)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("user", max_wait=0.1)


async def test_background_stops_at_its_share() -> None:
    async with _budget("4/minute", background_share=0.5) as budget:
        await budget.acquire("background", max_wait=0.1)
        await budget.acquire("background", max_wait=0.1)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("background", max_wait=0.1)
        await budget.acquire("user", max_wait=0.1)
        await budget.acquire("user", max_wait=0.1)


async def test_background_yields_to_user_spending() -> None:
    async with _budget("4/minute", background_share=0.5) as budget:
        await budget.acquire("user", max_wait=0.1)
        await budget.acquire("user", max_wait=0.1)
        with pytest.raises(BudgetExhaustedError):
            await budget.acquire("background", max_wait=0.1)


async def test_no_room_in_time_fails_without_sleeping() -> None:
    async with _budget("1/minute") as budget:
        await budget.acquire("background", max_wait=0.1)
        started = time.monotonic()
        with pytest.raises(BudgetExhaustedError, match="no room"):
            await budget.acquire("background", max_wait=30)
        assert time.monotonic() - started < 0.2


async def test_use_before_open_says_what_to_do() -> None:
    budget = _budget("1/minute")
    with pytest.raises(NotReadyError, match="open"):
        await budget.acquire("user", max_wait=0.1)


def test_unreadable_limit_names_the_budget() -> None:
    with pytest.raises(ConfigurationError, match="60 a minute"):
        OutboundBudget("60 a minute", name="horizons")


@pytest.mark.parametrize("share", [0.0, 1.5, -0.5])
def test_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigurationError, match="background share"):
        OutboundBudget("60/minute", name="horizons", background_share=share)
