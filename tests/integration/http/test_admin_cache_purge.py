"""The admin purge, ``DELETE /v1/admin/cache/{namespace}``: who may, what it takes, and that
every process's memory tier follows it (over Redis, and over PostgreSQL without Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from cachefront.config import Settings
from cachefront.services.ephemeris.keys import NAMESPACE, record_key
from harness_servers import ServerThread, Simulator, settings_env, spawn_server

SERVICE_KEY = "svc-purge-Yh3Kd8Qp1Zr6Wm4-Lx9Vb2Nc7Tf5Gs0"
AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}
AT = "2031-05-06T07:00:00Z"  # on the grid: its record key is its own
# A change in one process must reach the others' memory within this long.
WITHIN = 0.1


def _get(base: str) -> httpx.Response:
    return httpx.get(f"{base}/v1/ephemeris/mars", params={"at": AT}, timeout=30)


def test_purge_takes_a_key_or_a_prefix_for_the_service_role_only(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    with serve_app(settings_for(service_key=SERVICE_KEY)) as server:
        url = f"{server.url}/v1/admin/cache/{NAMESPACE}"
        assert _get(server.url).headers["x-cache"] == "upstream"
        assert _get(server.url).headers["x-cache"] == "memory"

        anonymous = httpx.delete(url, params={"prefix": ""})
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"

        key = record_key("mars", datetime.fromisoformat(AT))
        purged = httpx.delete(url, params={"key": key}, headers=AUTH)
        assert purged.status_code == 200, purged.text
        assert purged.json() == {"namespace": NAMESPACE, "key": key, "purged": 1}
        calls = simulator.requests()
        assert _get(server.url).headers["x-cache"] == "upstream"
        assert simulator.requests() > calls

        # The refetch stored a whole batch of neighbouring instants: all of it goes.
        everything = httpx.delete(url, params={"prefix": ""}, headers=AUTH).json()
        assert everything["purged"] > 1
        assert everything == {"namespace": NAMESPACE, "prefix": "", "purged": everything["purged"]}
        again = httpx.delete(url, params={"prefix": ""}, headers=AUTH).json()
        assert again["purged"] == 0
        assert _get(server.url).headers["x-cache"] == "upstream"


@pytest.mark.parametrize(
    ("namespace", "params", "field"),
    [
        ("ephemeris.v1", {}, "key"),
        ("ephemeris.v1", {"key": "a", "prefix": "b"}, "key"),
        ("ephemeris.v1", {"key": ""}, "key"),
        ("bad:name", {"prefix": ""}, "namespace"),
    ],
)
def test_bad_purge_requests_get_a_problem_naming_the_field(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    namespace: str,
    params: dict[str, str],
    field: str,
) -> None:
    with serve_app(settings_for(service_key=SERVICE_KEY)) as server:
        response = httpx.delete(
            f"{server.url}/v1/admin/cache/{namespace}", params=params, headers=AUTH
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.slow
@pytest.mark.parametrize("carrier", ["redis", "postgres"])
async def test_a_purge_in_one_process_empties_the_others_memory(
    settings_for: Callable[..., Settings], redis_url: str, simulator: Simulator, carrier: str
) -> None:
    settings = settings_for(
        service_key=SERVICE_KEY, redis_url=redis_url if carrier == "redis" else None
    )
    env = settings_env(settings)
    with spawn_server(env) as first, spawn_server(env) as second:
        for base in (first, second, second):
            await asyncio.to_thread(_get, base)
        assert (await asyncio.to_thread(_get, second)).headers["x-cache"] == "memory"
        purged = await asyncio.to_thread(
            httpx.delete,
            f"{first}/v1/admin/cache/{NAMESPACE}",
            params={"prefix": "mars:"},
            headers=AUTH,
        )
        assert purged.status_code == 200, purged.text
        await asyncio.sleep(WITHIN)
        calls = simulator.requests()
        assert (await asyncio.to_thread(_get, second)).headers["x-cache"] == "upstream"
        assert simulator.requests() == calls + 1


@pytest.mark.slow
async def test_a_value_refreshed_in_one_process_is_not_served_from_the_others_memory(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    env = settings_env(settings_for(service_key=SERVICE_KEY, redis_url=redis_url))
    with spawn_server(env) as first, spawn_server(env) as second:
        for base in (first, second, second):
            await asyncio.to_thread(_get, base)
        assert (await asyncio.to_thread(_get, second)).headers["x-cache"] == "memory"
        # Purged in the shared tiers only (as the worker's refresh would replace them),
        # then refilled by the first process: the second must read the new entry.
        await asyncio.to_thread(
            httpx.delete,
            f"{first}/v1/admin/cache/{NAMESPACE}",
            params={"prefix": ""},
            headers=AUTH,
        )
        refreshed = await asyncio.to_thread(_get, first)
        assert refreshed.headers["x-cache"] == "upstream"
        await asyncio.sleep(WITHIN)
        again = await asyncio.to_thread(_get, second)
        assert again.headers["x-cache"] in {"redis", "db"}
        assert again.headers["etag"] == refreshed.headers["etag"]
