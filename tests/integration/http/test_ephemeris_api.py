"""The ephemeris API through real HTTP: answers, cache headers, 304, errors, single-flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator

AT = "2031-03-04T05:06:00Z"  # snaps to 05:00


def _assert_record(doc: dict[str, object], body: str, at: str) -> None:
    assert doc["body"] == body
    assert doc["at"] == at
    for field in ("ra_deg", "dec_deg", "distance_au", "ecliptic_lon_deg", "ecliptic_lat_deg"):
        assert isinstance(doc[field], float), field
    assert isinstance(doc["retrograde"], bool)
    assert doc["retrograde"] == (float(doc["speed_deg_per_day"]) < 0)  # type: ignore[arg-type]


def test_position_then_memory_hit_with_cache_headers(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    with serve_app(settings_for()) as server:
        first = httpx.get(f"{server.url}/v1/ephemeris/mars", params={"at": AT})
        assert first.status_code == 200, first.text
        assert first.headers["x-cache"] == "upstream"
        _assert_record(first.json(), "mars", "2031-03-04T05:00:00Z")
        assert first.json()["provider"] == "horizons"

        second = httpx.get(f"{server.url}/v1/ephemeris/mars", params={"at": AT})
        assert second.status_code == 200
        assert second.headers["x-cache"] == "memory"
        assert second.content == first.content
        assert second.headers["etag"] == first.headers["etag"]
        assert int(second.headers["age"]) >= 0
        assert second.headers["cache-control"].startswith("public, max-age=")
        assert int(second.headers["cache-control"].split("=")[1]) > 86400

        # A neighbouring hour came with the same upstream call (range batching).
        neighbour = httpx.get(
            f"{server.url}/v1/ephemeris/mars", params={"at": "2031-03-04T06:00:00Z"}
        )
        assert neighbour.headers["x-cache"] == "memory"
        assert simulator.requests() == 1


def test_if_none_match_gives_304_on_fast_and_full_path(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for()) as server:
        url = f"{server.url}/v1/ephemeris/venus"
        first = httpx.get(url, params={"at": AT})
        etag = first.headers["etag"]
        # Served by the hot path (memory hit).
        hot = httpx.get(url, params={"at": AT}, headers={"If-None-Match": etag})
        assert hot.status_code == 304
        assert hot.content == b""
        assert hot.headers["etag"] == etag
        # Served by the routed path (explicit extra query parameter is not on the hot path).
        routed = httpx.get(
            url, params={"at": "2031-03-04T05:00:00+00:00"}, headers={"If-None-Match": etag}
        )
        assert routed.status_code == 304
        other = httpx.get(url, params={"at": AT}, headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200


def test_default_instant_is_now(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for()) as server:
        response = httpx.get(f"{server.url}/v1/ephemeris/sun")
        assert response.status_code == 200
        assert response.json()["at"].endswith(":00:00Z")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/ephemeris/vulcan", {}, "body"),
        ("/v1/ephemeris/mars", {"at": "yesterday-ish"}, "at"),
        ("/v1/ephemeris", {"bodies": "mars,vulcan", "start": AT, "stop": AT}, "bodies"),
        ("/v1/ephemeris", {"bodies": "mars", "start": "2031-01-01", "stop": "2030-01-01"}, "stop"),
        ("/v1/ephemeris", {"bodies": "mars", "start": AT, "stop": AT, "step": "7x"}, "step"),
        (
            "/v1/ephemeris",
            {"bodies": "sun,moon,mars", "start": "2030-01-01", "stop": "2031-01-01"},
            "stop",
        ),
        ("/v1/ephemeris", {"bodies": "mars", "start": AT}, "stop"),
    ],
)
def test_bad_input_gets_problem_json(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    with serve_app(settings_for()) as server:
        response = httpx.get(server.url + path, params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 422
        assert problem["title"] == "Unprocessable Content"
        assert problem["detail"]
        assert any(field in (e.get("field") or "") for e in problem["errors"]), problem


def test_range_returns_rows_in_time_then_body_order(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    with serve_app(settings_for()) as server:
        params = {
            "bodies": "moon,jupiter",
            "start": "2031-06-01T00:00Z",
            "stop": "2031-06-01T05:00Z",
            "step": "1h",
        }
        response = httpx.get(f"{server.url}/v1/ephemeris", params=params)
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["count"] == 12
        assert [r["body"] for r in doc["rows"][:4]] == ["moon", "jupiter", "moon", "jupiter"]
        assert doc["rows"][-1]["at"] == "2031-06-01T05:00:00Z"
        assert response.headers["x-cache"] == "upstream"
        assert simulator.requests() == 2  # one call per body
        again = httpx.get(f"{server.url}/v1/ephemeris", params=params)
        assert again.headers["x-cache"] == "memory"
        assert again.headers["etag"] == response.headers["etag"]
        assert simulator.requests() == 2


async def test_200_concurrent_cold_requests_make_one_upstream_call(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    simulator.configure(latency_ms=300)
    with serve_app(settings_for()) as server:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            responses = await asyncio.gather(
                *(client.get("/v1/ephemeris/saturn", params={"at": AT}) for _ in range(200))
            )
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1
        assert simulator.requests() == 1


def test_health_and_ready(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for()) as server:
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


def test_unknown_route_is_problem_json(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for()) as server:
        response = httpx.get(server.url + "/v1/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_sliding_48_hour_window_costs_one_call_per_chunk(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    with serve_app(settings_for()) as server:
        for hour in range(6):
            start = f"2031-09-10T{hour:02d}:00:00Z"
            stop = f"2031-09-12T{hour:02d}:00:00Z"
            response = httpx.get(
                f"{server.url}/v1/ephemeris",
                params={"bodies": "mars", "start": start, "stop": stop, "step": "1h"},
            )
            assert response.status_code == 200
            assert response.json()["count"] == 49
        # The first window's misses are widened to whole aligned day chunks and fetched
        # in one call; the windows after it slide inside what that call brought.
        assert simulator.requests() == 1
