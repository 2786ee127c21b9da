"""CACHEFRONT_LOG_FORMAT=json in a served process: JSON lines only, one access line per request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import Simulator, settings_env, spawn_server

SERVICE_KEY = "service-key-for-access-log-tests-0123456789"
QUERY_SECRET = "QUERYSECRET-do-not-log-17"
UPSTREAM_KEY = "UPSTREAMKEY-do-not-log-23"
MARS = "/v1/ephemeris/mars"
AT = "2031-05-06T07:00:00Z"
BEARER = {"Authorization": f"Bearer {SERVICE_KEY}"}


def _access_lines(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if line.get("logger") == "cachefront.access":
            by_id.setdefault(line["request_id"], []).append(line)
    return by_id


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_json_mode_logs_one_line_per_request_with_its_fields_and_no_secret(
    settings_for: Callable[..., Settings], simulator: Simulator, workers: int
) -> None:
    settings = settings_for(
        horizons_url=f"{simulator.url}?api_key={UPSTREAM_KEY}",
        ephemeris_providers=["horizons"],
        service_key=SERVICE_KEY,
    )
    env = {
        **settings_env(settings),
        "CACHEFRONT_LOG_FORMAT": "json",
        "CACHEFRONT_WORKERS": str(workers),
    }
    stderr: list[str] = []
    with spawn_server(env, log_level="info", stderr_out=stderr) as url, httpx.Client() as client:
        # A miss through the application, with a credential and a secret in the query.
        miss = client.get(
            url + MARS,
            params={"at": AT, "api_key": QUERY_SECRET},
            headers={**BEARER, "X-Request-ID": "t-miss"},
        )
        assert miss.status_code == 200, miss.text
        assert miss.headers["x-cache"] == "upstream"
        # The same key again: a memory hit, which the server answers directly, on a
        # worker that cached it (with two workers, ask until one has).
        for attempt in range(20):
            hit = client.get(
                url + MARS,
                params={"at": AT},
                headers={**BEARER, "X-Request-ID": f"t-hit-{attempt}"},
            )
            assert hit.status_code == 200
            if hit.headers["x-cache"] == "memory":
                break
        hit_id = hit.headers["x-request-id"]
        # Refused by the gate before routing: a bad credential.
        refused = client.get(
            url + "/v1/admin/stats",
            headers={"Authorization": "Bearer not-a-valid-key", "X-Request-ID": "t-401"},
        )
        assert refused.status_code == 401
        # Anonymous, with no id of its own: the server names it.
        anonymous = client.get(url + "/health", headers={"Cookie": "session=COOKIESECRET"})
        assert anonymous.status_code == 200
        generated = anonymous.headers["x-request-id"]
        missing = client.get(url + "/no/such/route/123", headers={"X-Request-ID": "t-404"})
        assert missing.status_code == 404

    text = stderr[0]
    raw = [line for line in text.splitlines() if line.strip()]
    # Every line is a JSON object, but for the startup banner the console prints.
    lines = [json.loads(line) for line in raw if not line.startswith("cachefront on ")]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    # Each worker logs through the same JSON handler (a second one may still be starting
    # when a loaded machine's test is over, so at least one says it is ready).
    assert any(line["message"].startswith("cachefront ready") for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)

    access = _access_lines(lines)
    for rid in ("t-miss", hit_id, "t-401", generated, "t-404"):
        assert len(access.get(rid, [])) == 1, (rid, access.get(rid))
    (miss_line,) = access["t-miss"]
    assert miss_line["action"] == "http.request"
    assert miss_line["method"] == "GET"
    assert miss_line["route"] == "/v1/ephemeris/{body}"
    assert miss_line["path"] == f"{MARS}?at={AT.replace(':', '%3A')}&api_key=***"
    assert miss_line["status"] == 200
    assert miss_line["tier"] == "upstream"
    assert miss_line["caller"] == "service"
    assert miss_line["client"] == "127.0.0.1"
    assert isinstance(miss_line["latency_ms"], float)
    assert miss_line["latency_ms"] > 0

    (hit_line,) = access[hit_id]
    assert (hit_line["route"], hit_line["status"], hit_line["caller"]) == (
        "/v1/ephemeris/{body}",
        200,
        "service",
    )
    assert hit_line["tier"] == "memory"

    (refused_line,) = access["t-401"]
    assert (refused_line["route"], refused_line["status"], refused_line["caller"]) == (
        "/v1/admin/stats",
        401,
        None,
    )
    (anonymous_line,) = access[generated]
    assert (anonymous_line["route"], anonymous_line["caller"], anonymous_line["tier"]) == (
        "/health",
        "anon",
        None,
    )
    assert access["t-404"][0]["route"] == "unmatched"
    assert access["t-404"][0]["status"] == 404

    for secret in (SERVICE_KEY, QUERY_SECRET, UPSTREAM_KEY, "COOKIESECRET", "not-a-valid-key"):
        assert secret not in text
    # uvicorn's own access line ('"GET /health HTTP/1.1" 200') is not written.
    assert 'HTTP/1.1" ' not in text
