"""The in-memory sliding-window counter, route groups, limit parsing and RateLimit headers."""

from __future__ import annotations

import pytest

from cachefront.errors import ConfigurationError
from cachefront.ratelimit import LocalCounter, parse_rate_limits, route_group
from cachefront.ratelimit.headers import policy_header, ratelimit_header


def test_burst_is_counted_exactly_then_refused_with_retry_after() -> None:
    counter = LocalCounter()
    results = [counter.hit("k", 5, 60, 1000.0 * 60 + 10) for _ in range(7)]
    assert [r[0] for r in results] == [True] * 5 + [False] * 2
    assert [r[1] for r in results[:5]] == [4, 3, 2, 1, 0]
    # The weighting alone would say 62 s (50 s to the next window, then 12 s until the
    # weighted previous 5 is down to 4); but all five hits are then a window old.
    assert results[5][2] == 60


def test_retry_after_never_exceeds_the_window_and_is_then_true() -> None:
    counter = LocalCounter()
    # Five of 5/hour spent 86 s into a window: the weighting alone says 3686 s.
    start = 1000.0 * 3600 + 86
    for _ in range(5):
        assert counter.hit("k", 5, 3600, start)[0]
    allowed, _, retry_after, _ = counter.hit("k", 5, 3600, start)
    assert not allowed
    assert retry_after == 3600
    assert not counter.hit("k", 5, 3600, start + retry_after - 1)[0]
    assert counter.hit("k", 5, 3600, start + retry_after)[0]


def test_refund_takes_back_a_hit_in_its_window_and_after_it_rolled() -> None:
    counter = LocalCounter()
    now = 659.0  # the end of a window, so its hits still weigh fully at the next start
    index = [counter.hit("k", 2, 60, now)[3] for _ in range(2)][-1]
    assert not counter.hit("k", 2, 60, now)[0]
    counter.refund("k", index)
    assert counter.hit("k", 2, 60, now)[0]
    # Refunded once the window became the previous one: it weighs one less there.
    assert not counter.hit("k", 2, 60, now + 1)[0]
    counter.refund("k", index)
    assert counter.hit("k", 2, 60, now + 1)[0]
    counter.refund("unknown", index)  # nothing counted, nothing to take back


def test_previous_window_weighs_in_proportionally() -> None:
    counter = LocalCounter()
    start = 659.0  # the end of a window: its hits still count half-way into the next
    for _ in range(10):
        assert counter.hit("k", 10, 60, start)[0]
    # Half-way through the next window, half of the previous 10 still count.
    allowed = [counter.hit("k", 10, 60, start + 31)[0] for _ in range(6)]
    assert allowed == [True] * 5 + [False]


def test_groups_by_method_and_path() -> None:
    assert route_group("GET", "/v1/ephemeris/mars") == "upstream"
    assert route_group("GET", "/v1/admin/stats") == "admin"
    assert route_group("GET", "/v1/adminx") == "general"
    assert route_group("POST", "/v1/jobs") == "generation"
    assert route_group("GET", "/v1/jobs/1") == "jobs"
    assert route_group("GET", "/health") == "general"


def test_parse_rate_limits_defaults_and_errors() -> None:
    parsed = parse_rate_limits({"general": "10/second"})
    assert parsed["general"].amount == 10
    assert parsed["upstream"].amount == 100
    assert parsed["generation"].get_expiry() == 3600
    assert parsed["admin"] is parsed["general"]
    with pytest.raises(ConfigurationError, match="unknown route group"):
        parse_rate_limits({"nope": "1/minute"})
    with pytest.raises(ConfigurationError, match="cannot read"):
        parse_rate_limits({"general": "lots"})


def test_header_format() -> None:
    assert policy_header("general", 200, 60) == b'"general";q=200;w=60'
    assert ratelimit_header("general", 150, 30) == b'"general";r=150;t=30'
