"""How a budget lease sizes its blocks, spends them and lets them lapse (a fake clock)."""

from __future__ import annotations

import pytest

from cachefront.upstream.budget_lease import (
    LEASE_SECONDS,
    BudgetLease,
    lease_cap,
    shared_window,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("amount", "window", "cap"),
    [
        (600, 60, 12),  # 2% of a per-minute budget
        (6000, 60, 120),
        (99, 60, 0),  # a block of one is no lease: exact
        (3, 60, 0),
        (1000, 1, 0),  # per second: one more second would halve it
        (1000, 59, 0),
        (100_000, 3600, 2000),
    ],
)
def test_lease_cap(amount: int, window: int, cap: int) -> None:
    assert lease_cap(amount, window) == cap


def test_the_shared_window_is_one_lease_longer_only_when_leased() -> None:
    assert shared_window(60, 12) == 60 + LEASE_SECONDS
    assert shared_window(60, 0) == 60


def test_first_calls_spend_exactly() -> None:
    lease = BudgetLease(12, clock=Clock())
    assert lease.next_block(1) == 1
    assert not lease.spend(1)


def test_a_block_is_what_the_last_second_spent_within_the_cap() -> None:
    clock = Clock()
    lease = BudgetLease(12, clock=clock)
    for _ in range(5):
        lease.note_spent(1)
    assert lease.next_block(1) == 1  # this second is not over: nothing measured yet
    clock.now += LEASE_SECONDS
    lease.note_spent(1)
    assert lease.next_block(1) == 5
    for _ in range(30):
        lease.note_spent(1)
    clock.now += LEASE_SECONDS
    lease.note_spent(1)
    assert lease.next_block(1) == 12  # 31 spent, capped


def test_a_quiet_second_in_between_measures_nothing() -> None:
    clock = Clock()
    lease = BudgetLease(12, clock=clock)
    for _ in range(8):
        lease.note_spent(1)
    clock.now += 2.5 * LEASE_SECONDS
    lease.note_spent(1)
    assert lease.next_block(1) == 1


def test_a_granted_block_is_spent_then_runs_out() -> None:
    lease = BudgetLease(12, clock=Clock())
    lease.grant(4, 1)
    assert lease.units == 3
    assert lease.spend(2)
    assert not lease.spend(2)  # one left, the call costs two: nothing spent
    assert lease.units == 1
    assert lease.spend(1)
    assert not lease.spend(1)


def test_a_block_lapses_after_its_second() -> None:
    clock = Clock()
    lease = BudgetLease(12, clock=clock)
    lease.grant(10, 1)
    clock.now += LEASE_SECONDS - 0.01
    assert lease.spend(1)
    clock.now += 0.02
    assert lease.units == 0
    assert not lease.spend(1)


def test_a_call_costing_the_whole_cap_spends_exactly() -> None:
    clock = Clock()
    lease = BudgetLease(12, clock=clock)
    for _ in range(40):
        lease.note_spent(1)
    clock.now += LEASE_SECONDS
    lease.note_spent(1)
    assert lease.next_block(12) == 12
    assert lease.next_block(5) == 12
    assert BudgetLease(0, clock=clock).next_block(1) == 1


def test_drop_forgets_the_units_in_hand() -> None:
    lease = BudgetLease(12, clock=Clock())
    lease.grant(6, 1)
    lease.drop()
    assert lease.units == 0
    assert not lease.spend(1)
