"""Arbitrary query strings and bodies on every route, through real HTTP: never a 5xx.

Each test drives one route with values Hypothesis makes up (mostly nonsense, some near
the edges the parsers draw: calendar ends, offsets, huge steps, wrong JSON types) and
checks the contract every answer keeps: no 5xx, every error is problem+json whose
``status`` matches, and a 422 names each field it refuses. The server runs the real app
under uvicorn with a service key and an API key, so the routes behind authentication
are reached too, and with the local provider alone: every instant it is asked about it
can answer or refuses, where the simulator (DE421 too) would stand in for a Horizons
that cannot answer past 2053, a fair 503.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from harness_servers import ServerThread

pytestmark = pytest.mark.slow

SERVICE_KEY = "service-key-for-property-tests-0123456789"
BODIES = ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn", "uranus", "pluto"]
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Client:
    """A client of the running server, with the credentials its routes need."""

    http: httpx.Client
    user: dict[str, str]
    service: dict[str, str]


@pytest.fixture
async def client(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], engine: AsyncEngine
) -> Iterator[Client]:
    key, _ = await KeyManager(engine).create(f"property-{uuid.uuid4().hex[:8]}", Role.USER)
    limits = {g: "1000000/minute" for g in ("general", "upstream", "jobs", "generation")}
    with (
        serve_app(
            settings_for(service_key=SERVICE_KEY, rate_limits=limits, ephemeris_providers=["local"])
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield Client(
            http,
            user={"Authorization": f"Bearer {key}"},
            service={"Authorization": f"Bearer {SERVICE_KEY}"},
        )


def check(response: httpx.Response) -> None:
    """The contract of every answer: below 500, and errors as problem+json naming fields."""
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{request} -> {response.status_code} {response.text}"
    if response.status_code < 400:
        return
    assert response.headers["content-type"] == "application/problem+json", request
    problem = response.json()
    assert problem["status"] == response.status_code, request
    assert problem["detail"], request
    if response.status_code == 422:
        assert problem["errors"], request
        for error in problem["errors"]:
            assert error["field"], f"{request}: {problem}"
            assert "Value error" not in error["message"], f"{request}: {problem}"


# --- values -------------------------------------------------------------------------------
def _offset() -> st.SearchStrategy[timezone]:
    minutes = st.integers(-14 * 60, 14 * 60)
    return minutes.map(lambda m: timezone(timedelta(minutes=m)))


_SEPARATORS = st.sampled_from(["T", " ", "t"])
_CALENDAR = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), timezones=_offset())
_NEAR = st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))
# Where date arithmetic overflows or coverage ends: the places worth hammering.
_EDGES = [
    (datetime(1, 1, 1), datetime(1, 1, 3)),
    (datetime(1599, 12, 30), datetime(1600, 1, 2)),
    (datetime(1899, 7, 28), datetime(1899, 8, 3)),
    (datetime(2053, 9, 29), datetime(2053, 10, 10)),
    (datetime(2500, 12, 29), datetime(2501, 1, 2)),
    (datetime(9999, 12, 29), datetime(9999, 12, 31, 23, 59, 59)),
]
_NEAR_EDGES = st.one_of(
    *(st.datetimes(first, last, timezones=st.just(UTC) | _offset()) for first, last in _EDGES)
)
INSTANTS = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "now",
            "",
            "2026-01-01T00:00:00 01:00",
            "2026-13-01",
        ]
    ),
    st.tuples(_NEAR_EDGES, _SEPARATORS).map(lambda p: p[0].isoformat(sep=p[1])),
    st.tuples(_CALENDAR, _SEPARATORS).map(lambda p: p[0].isoformat(sep=p[1])),
    _NEAR.map(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ")),
    _CALENDAR.map(lambda at: at.replace(tzinfo=None).isoformat()),
    st.text(max_size=40),
)
STEPS = st.one_of(
    st.sampled_from(["1h", "2h", "30m", "7m", "1d", "366d", "367d", "1000000d", "99999999999d"]),
    st.tuples(
        st.one_of(st.integers(0, 10**30), st.sampled_from([1, 7, 60, 366, 367, 1000000])),
        st.sampled_from(["m", "min", "h", "d", "H", "s", "w", ""]),
    ).map(lambda p: f"{p[0]}{p[1]}"),
    st.text(max_size=20),
)
BODY_NAMES = st.one_of(st.sampled_from(BODIES), st.text(max_size=20))
BODY_LISTS = st.one_of(
    st.sampled_from(["mars", "sun,moon", "Mars, venus", "mars,mars", ""]),
    st.lists(BODY_NAMES, max_size=12).map(",".join),
    st.text(max_size=60),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _query(**values: str | None) -> dict[str, str]:
    """The given query parameters, leaving out those Hypothesis chose to omit (None)."""
    return {name: value for name, value in values.items() if value is not None}


# --- routes -------------------------------------------------------------------------------
def test_one_position_never_fails_on_its_inputs(client: Client) -> None:
    @EXAMPLES
    @given(body=BODY_NAMES, at=st.none() | INSTANTS)
    def run(body: str, at: str | None) -> None:
        path = "/v1/ephemeris/" + quote(body, safe="")
        check(client.http.get(path, params=_query(at=at), headers=client.user))

    run()


def test_ranges_never_fail_on_their_inputs(client: Client) -> None:
    @EXAMPLES
    @given(
        bodies=st.none() | BODY_LISTS,
        start=st.none() | INSTANTS,
        stop=st.none() | INSTANTS,
        step=st.none() | STEPS,
    )
    def run(bodies: str | None, start: str | None, stop: str | None, step: str | None) -> None:
        query = _query(bodies=bodies, start=start, stop=stop, step=step)
        check(client.http.get("/v1/ephemeris", params=query, headers=client.user))

    run()


_EXPORT_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "bodies": st.one_of(st.lists(BODY_NAMES, max_size=12), JSON),
        "start": st.one_of(INSTANTS, JSON),
        "stop": st.one_of(INSTANTS, JSON),
        "step": st.one_of(STEPS, JSON),
        "format": st.one_of(st.sampled_from(["csv", "json", "xml"]), JSON),
    },
)


# Mostly sound params with one or two values astray: what reaches the checks past parsing.
_NEAR_SOUND_PARAMS = st.fixed_dictionaries(
    {
        "bodies": st.sampled_from([["mars"], ["sun", "moon"], ["Venus"]]),
        "start": _NEAR.map(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "stop": _NEAR.map(lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ")),
    },
    optional={"step": STEPS, "format": st.sampled_from(["csv", "json"])},
)


def test_job_submissions_never_fail_on_their_bodies(client: Client) -> None:
    @EXAMPLES
    @given(
        submission=st.one_of(
            st.fixed_dictionaries(
                {"type": st.just("ephemeris-export"), "params": _NEAR_SOUND_PARAMS}
            ),
            st.fixed_dictionaries(
                {"type": st.one_of(st.just("ephemeris-export"), JSON)},
                optional={"params": st.one_of(_EXPORT_PARAMS, JSON)},
            ),
            JSON,
        )
    )
    def run(submission: Any) -> None:
        check(client.http.post("/v1/jobs", json=submission, headers=client.user))

    run()


def test_job_lookups_never_fail_on_their_inputs(client: Client) -> None:
    ids = st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=40))

    @EXAMPLES
    @given(job_id=ids, method=st.sampled_from(["GET", "DELETE"]), result=st.booleans())
    def run(job_id: str, method: str, result: bool) -> None:
        path = "/v1/jobs/" + quote(job_id, safe="") + ("/result" if result else "")
        if method == "DELETE" and result:
            path = path.removesuffix("/result")
        check(client.http.request(method, path, headers=client.user))

    run()


def test_job_listings_never_fail_on_their_inputs(client: Client) -> None:
    statuses = st.one_of(st.sampled_from(["queued", "running", "succeeded"]), st.text(max_size=12))
    limits = st.one_of(st.integers(-10, 10**6).map(str), st.text(max_size=12))

    @EXAMPLES
    @given(status=st.none() | statuses, limit=st.none() | limits)
    def run(status: str | None, limit: str | None) -> None:
        query = _query(status=status, limit=limit)
        check(client.http.get("/v1/jobs", params=query, headers=client.user))

    run()


def test_admin_stats_never_fail_on_their_inputs(client: Client) -> None:
    hours = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.integers(-(10**20), 10**20).map(str),
        st.text(max_size=12),
    )

    @EXAMPLES
    @given(hours=st.none() | hours)
    def run(hours: str | None) -> None:
        response = client.http.get(
            "/v1/admin/stats", params=_query(hours=hours), headers=client.service
        )
        check(response)

    run()
