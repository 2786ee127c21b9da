"""The hot-path resolver maps requests to the same keys as the service, or declines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
