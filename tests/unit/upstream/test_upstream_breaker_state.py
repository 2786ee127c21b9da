"""The circuit breaker state machine, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from cachefront.upstream import BreakerPolicy, BreakerState, CircuitBreaker
from cachefront.upstream.breaker import Admission


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("p", BreakerPolicy(failure_threshold=3, reset_seconds=30), clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.release(breaker.acquire(), "failure")


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    assert breaker.is_open
    assert breaker.acquire() is Admission.REFUSED


def test_success_resets_the_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    breaker.release(breaker.acquire(), "success")
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_neutral_results_neither_count_nor_reset(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    breaker.release(breaker.acquire(), "neutral")
    assert breaker.consecutive_failures == 2
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN


def test_half_open_admits_exactly_one_trial(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 30
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.is_open
    trial = breaker.acquire()
    assert trial is Admission.TRIAL
    assert breaker.is_open
    assert breaker.acquire() is Admission.REFUSED
    breaker.release(trial, "success")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire() is Admission.NORMAL


def test_failed_trial_reopens_for_a_full_period(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 31
    breaker.release(breaker.acquire(), "failure")
    assert breaker.state is BreakerState.OPEN
    clock.now += 29
    assert breaker.state is BreakerState.OPEN
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN


def test_neutral_trial_lets_the_next_call_try(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 30
    breaker.release(breaker.acquire(), "neutral")
    assert breaker.acquire() is Admission.TRIAL


def test_late_results_of_calls_admitted_before_opening_change_nothing(
    breaker: CircuitBreaker,
) -> None:
    early = breaker.acquire()
    _fail(breaker, 3)
    breaker.release(early, "success")
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"reset_seconds": 0}], ids=str)
def test_rejects_impossible_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
