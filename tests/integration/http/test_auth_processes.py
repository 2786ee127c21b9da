"""Inbound limits across two `cachefront serve` processes sharing Redis, and secrets never leak."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, settings_env, spawn_server
from minute_windows import away_from_a_minute_edge

AT = "2031-03-04T05:06:00Z"


@pytest.mark.slow
async def test_limit_holds_across_two_processes_sharing_redis(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    settings = settings_for(redis_url=redis_url, rate_limits={"upstream": "40/minute"})
    env = settings_env(settings)
    with spawn_server(env) as first, spawn_server(env) as second:
        async with httpx.AsyncClient(timeout=30) as client:
            # Within one minute window: a run across two would rightly admit more.
            await away_from_a_minute_edge(15)
            # Warm the cache so the counted requests are hot-path hits on both.
            await client.get(f"{first}/v1/ephemeris/mars", params={"at": AT})
            urls = [first, second] * 50
            responses = await asyncio.gather(
                *(client.get(f"{u}/v1/ephemeris/mars", params={"at": AT}) for u in urls)
            )
    admitted = sum(r.status_code == 200 for r in responses)
    assert {r.status_code for r in responses} == {200, 429}
    # Never past the limit: every unit is counted in Redis before it is spent (at
    # 40/minute over two processes a lease is one unit). Under it by at most the one
    # unit each process may hold, fetched ahead, when the burst ends.
    assert 38 <= admitted + 1 <= 40, admitted


SECRETS = {
    "service": "SVCKEY-Zq8Lm2Nv5Xr7Wt1-Kp4Hs9Dj3Fg6Bc0",
    "jwt": "JWTSECRET-Pk4Hj6Gf8Dd0Ss2Aa",
    "db": "DBPASS-Yy7Uu5Ii3Oo1",
}


def _secret_settings(settings_for: Callable[..., Settings], database_url: str) -> Settings:
    url = database_url.replace("postgres@", f"postgres:{SECRETS['db']}@", 1)
    return settings_for(service_key=SECRETS["service"], jwt_secret=SECRETS["jwt"], database_url=url)


def _exercise(base_url: str) -> list[str]:
    """Successes, refusals and errors of every kind; their bodies and headers as text."""
    calls = [
        ("GET", "/v1/ephemeris/mars", {}),
        ("GET", "/v1/ephemeris/nowhere", {}),
        ("GET", "/v1/admin/stats", {"Authorization": f"Bearer {SECRETS['service']}"}),
        ("GET", "/v1/admin/stats", {"Authorization": f"Bearer {SECRETS['service']}x"}),
        ("GET", "/v1/jobs", {"Authorization": "Bearer a.b.c"}),
        ("POST", "/v1/jobs", {"apikey": SECRETS["service"]}),
        ("DELETE", "/health", {}),
        ("GET", "/openapi.json", {}),
    ]
    seen: list[str] = []
    for method, path, headers in calls:
        response = httpx.request(method, base_url + path, headers=headers)
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    return seen


def _assert_no_secret(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, name


def test_secrets_never_appear_in_responses_or_logs(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    caplog: pytest.LogCaptureFixture,
    database_url: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with serve_app(_secret_settings(settings_for, database_url)) as server:
        seen = _exercise(server.url)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    _assert_no_secret("\n".join(seen))


@pytest.mark.slow
def test_secrets_never_appear_in_a_server_process_stderr(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    env = settings_env(_secret_settings(settings_for, database_url))
    stderr: list[str] = []
    with spawn_server(env, log_level="debug", stderr_out=stderr) as url:
        seen = _exercise(url)
    assert stderr[0], "the server wrote nothing to stderr at debug level"
    _assert_no_secret("\n".join([*seen, *stderr]))
