"""The hot-path resolver maps requests to the same keys as the service, or declines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute
from cachefront.services.ephemeris.grid import snap
from cachefront.services.ephemeris.keys import NAMESPACE, record_key

HOUR = 3600


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T12:00:00Z",
        "2026-11-24T12:29:59Z",
        "2026-11-24T12:30:00Z",  # a tie rounds up
        "2026-11-24T12:30:00.000001+00:00",
        "2026-11-24T13:45:00+02:00",
        "1999-12-31T23:59:59",
    ],
)
def test_explicit_instants_resolve_to_the_service_key(text: str) -> None:
    route = EphemerisFastRoute(grid_seconds=HOUR)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    expected = record_key(Body.MARS, snap(at, timedelta(hours=1)))
    query = f"at={text}".replace("+", "%2B").encode()
    assert route.resolve("/v1/ephemeris/mars", query, now=0.0) == (NAMESPACE, expected)
    # The second time comes from the memo and must agree.
    assert route.resolve("/v1/ephemeris/mars", query, now=0.0) == (NAMESPACE, expected)


def test_no_query_means_now_snapped_to_the_grid() -> None:
    route = EphemerisFastRoute(grid_seconds=HOUR)
    now = datetime(2026, 11, 24, 12, 31, tzinfo=UTC)
    expected = record_key(Body.SUN, snap(now, timedelta(hours=1)))
    assert route.resolve("/v1/ephemeris/sun", b"", now.timestamp()) == (NAMESPACE, expected)
    assert expected.endswith(str(int(datetime(2026, 11, 24, 13, tzinfo=UTC).timestamp())))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/ephemeris/vulcan", b""),
        ("/v1/ephemeris/mars/", b""),
        ("/v1/ephemeris/MARS", b""),
        ("/v1/ephemeris/mars", b"at=not-a-time"),
        ("/v1/ephemeris/mars", b"at=2026-11-24T12:00:00Z&extra=1"),
        ("/v1/ephemeris/mars", b"when=2026-11-24T12:00:00Z"),
        ("/v1/ephemeris/mars", b"at"),
    ],
)
def test_anything_unusual_goes_to_the_full_path(path: str, query: bytes) -> None:
    route = EphemerisFastRoute(grid_seconds=HOUR)
    assert route.resolve(path, query, now=0.0) is None


@pytest.mark.parametrize(
    "query",
    [
        b"at=0001-01-01T00:00:00Z",
        b"at=0001-01-01T00:00:00%2B01:00",
        b"at=9999-12-31T23:00:00Z",
        b"at=9999-12-31T23:59:59-14:00",
    ],
)
def test_instants_outside_the_supported_range_go_to_the_full_app(query: bytes) -> None:
    assert EphemerisFastRoute(grid_seconds=HOUR).resolve("/v1/ephemeris/mars", query, 0.0) is None


_QUERY_PARTS = st.one_of(
    st.sampled_from([b"at=", b"0001-01-01T00:00:00", b"9999-12-31T23:59:59", b"%2B14:00"]),
    st.sampled_from([b"-14:00", b"Z", b"&", b"=", b"%", b"now", b"+", b" ", b"\xff"]),
    st.binary(max_size=12),
)


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_CALENDAR_ENDS = st.one_of(
    st.datetimes(datetime(1, 1, 1), datetime(1, 1, 2), timezones=_OFFSETS),
    st.datetimes(datetime(9999, 12, 30), datetime(9999, 12, 31, 23, 59, 59), timezones=_OFFSETS),
)
_QUERIES = st.one_of(
    _CALENDAR_ENDS.map(lambda at: b"at=" + at.isoformat().replace("+", "%2B").encode()),
    st.lists(_QUERY_PARTS, max_size=8).map(b"".join),
)


@settings(max_examples=300, database=None)
@given(query=_QUERIES, path=st.sampled_from(["mars", "sun", "x"]))
def test_the_resolver_never_raises(query: bytes, path: str) -> None:
    # Anything it cannot read falls to the full application, which explains the refusal.
    resolved = EphemerisFastRoute(grid_seconds=HOUR).resolve("/v1/ephemeris/" + path, query, 1.7e9)
    assert resolved is None or resolved[0] == NAMESPACE
