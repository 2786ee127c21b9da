"""ServerSignals: reading the usage an upstream reports, and the holds it asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cachefront.upstream import NO_SIGNALS, ServerSignals

WEIGHT = "X-MBX-USED-WEIGHT-1m"


def test_usage_counts_as_is_and_the_header_name_ignores_case() -> None:
    signals = ServerSignals(used_header="x-mbx-used-weight-1m")
    response = httpx.Response(200, headers={WEIGHT: "1234"})
    assert signals.reported_usage(response, 3000) == 1234


def test_usage_is_scaled_onto_our_share_of_the_published_limit() -> None:
    signals = ServerSignals(used_header=WEIGHT, published_limit=6000)
    response = httpx.Response(200, headers={WEIGHT: "1001"})
    # 1001 of 6000 is 500.5 of our 3000: rounded up, so we never count low.
    assert signals.reported_usage(response, 3000) == 501


def test_usage_is_capped_at_our_limit() -> None:
    signals = ServerSignals(used_header=WEIGHT)
    assert signals.reported_usage(httpx.Response(200, headers={WEIGHT: "9000"}), 3000) == 3000


@pytest.mark.parametrize("value", ["", "abc", "-5", "12.5"])
def test_an_unreadable_usage_header_is_ignored(value: str) -> None:
    signals = ServerSignals(used_header=WEIGHT)
    assert signals.reported_usage(httpx.Response(200, headers={WEIGHT: value}), 3000) is None


def test_no_usage_without_the_header_or_without_a_header_name() -> None:
    assert ServerSignals(used_header=WEIGHT).reported_usage(httpx.Response(200), 10) is None
    with_header = httpx.Response(200, headers={WEIGHT: "5"})
    assert NO_SIGNALS.reported_usage(with_header, 10) is None


def test_a_hold_status_with_retry_after_holds() -> None:
    signals = ServerSignals(hold_statuses=frozenset({418, 429}))
    assert signals.hold_seconds(httpx.Response(418, headers={"Retry-After": "120"})) == 120.0
    assert signals.hold_seconds(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0


def test_a_hold_may_end_at_an_http_date() -> None:
    signals = ServerSignals(hold_statuses=frozenset({418}))
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = signals.hold_seconds(httpx.Response(418, headers={"Retry-After": when}))
    assert seconds is not None
    assert 85 <= seconds <= 90


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(418),  # no Retry-After: nothing says until when
        httpx.Response(418, headers={"Retry-After": "soon"}),
        httpx.Response(418, headers={"Retry-After": "0"}),
        httpx.Response(503, headers={"Retry-After": "30"}),  # not a hold status
        httpx.Response(200, headers={"Retry-After": "30"}),
    ],
)
def test_no_hold_otherwise(response: httpx.Response) -> None:
    assert ServerSignals(hold_statuses=frozenset({418, 429})).hold_seconds(response) is None


def test_no_holds_by_default() -> None:
    assert NO_SIGNALS.hold_seconds(httpx.Response(429, headers={"Retry-After": "30"})) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"used_header": WEIGHT, "published_limit": 0}, "at least 1"),
        ({"published_limit": 6000}, "used_header"),
        ({"hold_statuses": frozenset({200})}, "error statuses"),
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSignals(**kwargs)  # type: ignore[arg-type]
