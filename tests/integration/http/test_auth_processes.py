"""Inbound limits across two `cachefront serve` processes sharing Redis, and secrets never leak."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
from http_harness import ServerThread, settings_env, spawn_server

from cachefront.config import Settings

AT = "2031-03-04T05:06:00Z"


@pytest.mark.slow
async def test_limit_holds_across_two_processes_sharing_redis(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    settings = settings_for(redis_url=redis_url, rate_limits={"upstream": "40/minute"})
    env = settings_env(settings)
    with spawn_server(env) as first, spawn_server(env) as second:
        async with httpx.AsyncClient(timeout=30) as client:
            # Warm the cache so the counted requests are hot-path hits on both.
            await client.get(f"{first}/v1/ephemeris/mars", params={"at": AT})
            urls = [first, second] * 50
            responses = await asyncio.gather(
                *(client.get(f"{u}/v1/ephemeris/mars", params={"at": AT}) for u in urls)
            )
    admitted = sum(r.status_code == 200 for r in responses)
    assert {r.status_code for r in responses} == {200, 429}
    assert abs((admitted + 1) - 40) <= 1, admitted


def test_secrets_never_appear_in_responses_or_logs(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    caplog: pytest.LogCaptureFixture,
    database_url: str,
) -> None:
    secrets = {
        "service": "SVCKEY-Zq8Lm2Nv5Xr7Wt1",
        "jwt": "JWTSECRET-Pk4Hj6Gf8Dd0Ss2Aa",
    }
    url = database_url.replace("postgres@", "postgres:DBPASS-Yy7Uu5Ii3Oo1@", 1)
    settings = settings_for(
        service_key=secrets["service"], jwt_secret=secrets["jwt"], database_url=url
    )
    secrets["db"] = "DBPASS-Yy7Uu5Ii3Oo1"
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    with serve_app(settings) as server:
        calls = [
            ("GET", "/v1/ephemeris/mars", {}),
            ("GET", "/v1/ephemeris/nowhere", {}),
            ("GET", "/v1/admin/stats", {"Authorization": f"Bearer {secrets['service']}"}),
            ("GET", "/v1/admin/stats", {"Authorization": f"Bearer {secrets['service']}x"}),
            ("GET", "/v1/jobs", {"Authorization": "Bearer a.b.c"}),
            ("POST", "/v1/jobs", {"apikey": secrets["service"]}),
            ("DELETE", "/health", {}),
            ("GET", "/openapi.json", {}),
        ]
        for method, path, headers in calls:
            response = httpx.request(method, server.url + path, headers=headers)
            seen.append(response.text)
            seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    text = "\n".join(seen)
    for name, secret in secrets.items():
        assert secret not in text, name
