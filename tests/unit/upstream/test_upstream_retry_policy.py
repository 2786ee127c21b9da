"""RetryPolicy's formula and validation, and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cachefront.upstream import DEFAULT_RETRY, RetryPolicy, parse_retry_after
from cachefront.upstream.retry import is_retryable_status


def test_defaults_match_the_documented_constants() -> None:
    assert (DEFAULT_RETRY.attempts, DEFAULT_RETRY.backoff, DEFAULT_RETRY.backoff_max) == (
        3,
        0.5,
        10.0,
    )


def test_backoff_ceiling_doubles_up_to_the_max() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, backoff_max=3.0)
    assert [policy.max_sleep(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"backoff": -1.0}, {"backoff_max": -0.1}], ids=str
)
def test_rejects_impossible_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(200, False), (400, False), (404, False), (429, True), (500, True), (503, True)],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0


def test_retry_after_in_the_past_means_now() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    earlier = format_datetime(now - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_unreadable_retry_after_falls_back_to_backoff(value: str | None) -> None:
    assert parse_retry_after(value) is None
