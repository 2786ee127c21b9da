"""The budget's in-memory moving window against a direct count of what lies in the window."""

from __future__ import annotations

import limits
from hypothesis import given, settings
from hypothesis import strategies as st

from cachefront.upstream.budget_window import MemoryMovingWindow

PER_MINUTE = limits.parse("10/minute")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_hits_fit_until_the_limit_and_nothing_is_counted_when_refused() -> None:
    window = MemoryMovingWindow(clock=Clock())
    assert await window.hit(PER_MINUTE, "k", cost=7)
    assert not await window.hit(PER_MINUTE, "k", cost=4)
    assert await window.hit(PER_MINUTE, "k", cost=3)
    assert not await window.hit(PER_MINUTE, "k")
    assert await window.hit(PER_MINUTE, "other", cost=10)  # keys count apart


async def test_units_leave_the_window_one_window_after_they_were_counted() -> None:
    clock = Clock()
    window = MemoryMovingWindow(clock=clock)
    await window.hit(PER_MINUTE, "k", cost=6)
    clock.now += 30
    await window.hit(PER_MINUTE, "k", cost=4)
    stats = await window.get_window_stats(PER_MINUTE, "k")
    assert (stats.reset_time, stats.remaining) == (1_060.0, 0)
    clock.now = 1_060.0
    assert await window.test(PER_MINUTE, "k", cost=6)
    assert not await window.test(PER_MINUTE, "k", cost=7)
    stats = await window.get_window_stats(PER_MINUTE, "k")
    assert (stats.reset_time, stats.remaining) == (1_090.0, 6)


async def test_test_counts_nothing() -> None:
    window = MemoryMovingWindow(clock=Clock())
    for _ in range(20):
        assert await window.test(PER_MINUTE, "k", cost=10)
    assert await window.hit(PER_MINUTE, "k", cost=10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 40), st.integers(1, 6)), max_size=40))
async def test_admits_exactly_what_a_direct_count_admits(steps: list[tuple[float, int]]) -> None:
    clock = Clock()
    window = MemoryMovingWindow(clock=clock)
    admitted: list[tuple[float, int]] = []
    for pause, cost in steps:
        clock.now += pause
        in_window = sum(units for at, units in admitted if at > clock.now - 60)
        expected = in_window + cost <= 10
        assert await window.hit(PER_MINUTE, "k", cost=cost) is expected
        if expected:
            admitted.append((clock.now, cost))
