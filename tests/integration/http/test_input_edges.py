"""Input at the edges through real HTTP: each gets a 4xx problem+json naming the field."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread

SECRET = "jwt-secret-for-edge-tests-0123456789abcdef"


@pytest.fixture
def server(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> Iterator[ServerThread]:
    with serve_app(settings_for(jwt_secret=SECRET, auth_cache_seconds=0)) as running:
        yield running


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, object] = response.json()
    return doc


def _field(response: httpx.Response) -> object:
    errors = _problem(response, 422)["errors"]
    assert isinstance(errors, list)
    return errors[0]["field"]


@pytest.mark.parametrize(
    "query",
    [
        "at=0001-01-01T00:00:00Z",
        "at=9999-12-31T23:00:00Z",
        "at=0001-01-01T00:00:00%2B01:00",
        "at=9999-12-31T23:59:59-14:00",
    ],
)
def test_instants_at_the_ends_of_the_calendar_are_422(server: ServerThread, query: str) -> None:
    # The raw query reaches the fast path's resolver first, then the routed app.
    response = httpx.get(f"{server.url}/v1/ephemeris/mars?{query}")
    assert _field(response) == "at"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=0001-01-01T00:00:00Z&stop=9999-12-31T00:00:00Z", "start"),
        ("start=9999-12-30T00:00:00Z&stop=9999-12-31T23:00:00Z", "start"),
        ("start=2026-01-01T00:00:00Z&stop=9999-12-31T23:00:00Z", "stop"),
        ("start=2026-01-01T00:00:00Z&stop=2026-01-02T00:00:00Z&step=1000000d", "step"),
    ],
)
def test_ranges_past_the_supported_span_are_422(
    server: ServerThread, query: str, field: str
) -> None:
    response = httpx.get(f"{server.url}/v1/ephemeris?bodies=mars&{query}", timeout=10)
    assert _field(response) == field


def test_a_range_no_configured_provider_covers_is_422(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(ephemeris_providers=["local"])) as local_only:
        query = "bodies=mars&start=1700-01-01T00:00:00Z&stop=1700-01-02T00:00:00Z"
        response = httpx.get(f"{local_only.url}/v1/ephemeris?{query}")
    assert _field(response) == "start"
    assert "1899-08-01 to 2053-10-01" in str(_problem(response, 422)["detail"])


def test_a_fallback_asked_outside_its_ephemeris_is_a_503_not_a_422(server: ServerThread) -> None:
    # The simulator computes with DE421 too, so it refuses 1700 as Horizons never would:
    # with the primary failing, the request is valid but nothing can answer it now.
    response = httpx.get(f"{server.url}/v1/ephemeris/mars?at=1700-01-01T00:00:00Z")
    assert "DE421" in str(_problem(response, 503)["detail"])
    assert "retry-after" in response.headers


def test_an_unknown_body_in_a_list_names_the_bodies_field(server: ServerThread) -> None:
    query = "bodies=mars,vulcan&start=2026-01-01T00:00:00Z&stop=2026-01-01T01:00:00Z"
    response = httpx.get(f"{server.url}/v1/ephemeris?{query}")
    assert _field(response) == "bodies"


def test_an_offset_sent_with_a_bare_plus_gets_a_hint(server: ServerThread) -> None:
    response = httpx.get(f"{server.url}/v1/ephemeris/mars?at=2026-01-01T00:00:00+01:00")
    assert _field(response) == "at"
    assert "%2B" in str(_problem(response, 422)["detail"])


def test_doomed_export_jobs_are_refused_at_submission(server: ServerThread) -> None:
    user = jwt.encode({"sub": "edge-user", "exp": int(time.time()) + 300}, SECRET)
    good = {"bodies": ["mars"], "start": "2031-01-01T00:00:00Z", "stop": "2031-01-02T00:00:00Z"}
    for change, field in (
        ({"step": "7m"}, "params.step"),
        ({"step": "99999999999d"}, "params.step"),
        ({"stop": "9999-12-31T23:59:59Z"}, "params.stop"),
    ):
        response = httpx.post(
            f"{server.url}/v1/jobs",
            json={"type": "ephemeris-export", "params": {**good, **change}},
            headers={"Authorization": f"Bearer {user}"},
        )
        assert _field(response) == field
        assert "Value error" not in str(_problem(response, 422)["detail"])


def test_a_signed_token_with_a_role_of_the_wrong_shape_is_401(server: ServerThread) -> None:
    claims = {"sub": "edge-user", "exp": int(time.time()) + 300, "role": [{"a": 1}]}
    response = httpx.get(
        f"{server.url}/v1/jobs", headers={"Authorization": f"Bearer {jwt.encode(claims, SECRET)}"}
    )
    assert "role claim" in str(_problem(response, 401)["detail"])
