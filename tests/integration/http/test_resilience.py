"""Upstream outages, stale answers, Redis failures and tier promotion, through real HTTP."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator, free_port, settings_env, spawn_server

AT = "2032-07-08T09:00:00Z"
SHORT_FRESH_DAYS = 1.0 / 86400  # one second


def test_upstream_outage_falls_back_to_local(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    simulator.configure(error_rate=1.0)
    with serve_app(settings_for(upstream_attempts=2)) as server:
        response = httpx.get(f"{server.url}/v1/ephemeris/jupiter", params={"at": AT}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["provider"] == "local"
        assert response.headers["x-cache"] == "upstream"


def test_nothing_can_answer_gives_503_without_hanging(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    simulator.configure(latency_ms=10_000)
    settings = settings_for(ephemeris_providers=["horizons"], upstream_timeout_seconds=0.5)
    with serve_app(settings) as server:
        started = time.monotonic()
        response = httpx.get(f"{server.url}/v1/ephemeris/mars", params={"at": AT}, timeout=30)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "horizons" in response.json()["detail"]
    assert elapsed < 5, f"took {elapsed:.1f}s for a 0.5s deadline"


def test_stale_if_error_serves_the_old_answer(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    settings = settings_for(ephemeris_providers=["horizons"], ephemeris_fresh_days=SHORT_FRESH_DAYS)
    with serve_app(settings) as server:
        url = f"{server.url}/v1/ephemeris/mercury"
        fresh = httpx.get(url, params={"at": AT})
        assert fresh.headers["x-cache"] == "upstream"
        time.sleep(1.2)
        simulator.configure(error_rate=1.0)
        stale = httpx.get(url, params={"at": AT}, timeout=30)
        assert stale.status_code == 200
        assert stale.headers["x-cache"] == "stale"
        assert stale.content == fresh.content


def test_stale_while_revalidate_answers_at_once_then_refreshes(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    settings = settings_for(ephemeris_fresh_days=SHORT_FRESH_DAYS)
    with serve_app(settings) as server:
        url = f"{server.url}/v1/ephemeris/venus"
        httpx.get(url, params={"at": AT})
        time.sleep(1.2)
        simulator.configure(latency_ms=1000)
        calls_before = simulator.requests()
        started = time.monotonic()
        stale = httpx.get(url, params={"at": AT})
        assert time.monotonic() - started < 0.8, "stale answer waited for the upstream"
        assert stale.headers["x-cache"] == "stale"
        deadline = time.monotonic() + 10
        while simulator.requests() == calls_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert simulator.requests() == calls_before + 1
        time.sleep(1.2)  # let the refresh land
        refreshed = httpx.get(url, params={"at": AT})
        assert refreshed.headers["x-cache"] in {"memory", "stale"}
        assert int(refreshed.headers["age"]) < 2


def test_tier_promotion_after_restart(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    simulator: Simulator,
    redis_url: str,
) -> None:
    settings = settings_for(redis_url=redis_url)
    url_path = "/v1/ephemeris/moon"
    with serve_app(settings) as server:
        assert httpx.get(server.url + url_path, params={"at": AT}).headers["x-cache"] == "upstream"
    with serve_app(settings) as server:  # a new process: empty memory, same Redis
        assert httpx.get(server.url + url_path, params={"at": AT}).headers["x-cache"] == "redis"
        assert httpx.get(server.url + url_path, params={"at": AT}).headers["x-cache"] == "memory"
    no_redis = settings.model_copy(update={"redis_url": None})
    with serve_app(no_redis) as server:  # no Redis: the PostgreSQL tier answers
        assert httpx.get(server.url + url_path, params={"at": AT}).headers["x-cache"] == "db"
        assert httpx.get(server.url + url_path, params={"at": AT}).headers["x-cache"] == "memory"
    assert simulator.requests() == 1


@pytest.fixture
def private_redis() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A Redis server of this test's own, with functions to stop and restart it."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH to stop and restart a Redis mid-test")
    port = free_port()

    def start() -> None:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "private redis did not start"
            time.sleep(0.05)

    def stop() -> None:
        subprocess.run(
            ["redis-cli", "-p", str(port), "shutdown", "nosave"],
            capture_output=True,
            check=False,
        )

    start()
    yield f"redis://127.0.0.1:{port}/0", stop, start
    stop()


def test_redis_stopping_mid_test_degrades_without_errors(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    private_redis: tuple[str, Callable[[], None], Callable[[], None]],
) -> None:
    url, stop, start = private_redis
    with serve_app(settings_for(redis_url=url)) as server:
        base = f"{server.url}/v1/ephemeris"
        assert httpx.get(f"{base}/mars", params={"at": AT}).status_code == 200
        stop()
        statuses = [
            httpx.get(f"{base}/{body}", params={"at": AT}, timeout=30).status_code
            for body in ("mars", "venus", "saturn", "mars")
        ]
        assert statuses == [200, 200, 200, 200]
        start()
        time.sleep(6)  # past the longest back-off
        assert httpx.get(f"{base}/uranus", params={"at": AT}).status_code == 200


@pytest.mark.slow
async def test_two_processes_sharing_redis_make_one_upstream_call(
    settings_for: Callable[..., Settings], simulator: Simulator, redis_url: str
) -> None:
    simulator.configure(latency_ms=500)
    env = settings_env(settings_for(redis_url=redis_url))
    with spawn_server(env) as first, spawn_server(env) as second:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.get(f"{base}/v1/ephemeris/neptune", params={"at": AT})
                    for base in (first, second)
                    for _ in range(100)
                )
            )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert simulator.requests() == 1


def test_metrics_land_in_postgresql_and_stats_need_the_service_key(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(service_key="s3cret-service-key-0123456789abcdef")
    with serve_app(settings) as server:
        for _ in range(3):
            httpx.get(f"{server.url}/v1/ephemeris/pluto", params={"at": AT})
        httpx.get(f"{server.url}/v1/ephemeris/vulcan")
        assert httpx.get(f"{server.url}/v1/admin/stats").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(f"{server.url}/v1/admin/stats", headers=wrong).status_code == 401
        auth = {"Authorization": "Bearer s3cret-service-key-0123456789abcdef"}
        stats = httpx.get(f"{server.url}/v1/admin/stats", params={"hours": 1}, headers=auth)
        assert stats.status_code == 200, stats.text
        doc = stats.json()
    assert doc["requests"] >= 4
    assert doc["requests_by_tier"].get("memory", 0) >= 2
    assert doc["requests_by_tier"].get("upstream", 0) >= 1
    assert doc["hit_rate"] is not None
    assert 0 < doc["hit_rate"] < 1
    assert doc["p99_ms"] is not None
    assert doc["p99_ms"] >= doc["p50_ms"]
    assert doc["client_error_rate"] > 0
    assert any(p["provider"] == "horizons" and p["calls"] >= 1 for p in doc["upstream_by_provider"])
    routes = {r["route"] for r in doc["routes"]}
    assert "/v1/ephemeris/{body}" in routes


def test_fallback_answers_stay_fresh_briefly_then_the_primary_is_asked_again(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    simulator.configure(error_rate=1.0)
    settings = settings_for(upstream_attempts=1, ephemeris_fallback_fresh_seconds=1.0)
    with serve_app(settings) as server:
        url = f"{server.url}/v1/ephemeris/saturn"
        fallback = httpx.get(url, params={"at": AT}, timeout=30)
        assert fallback.json()["provider"] == "local"
        assert fallback.headers["cache-control"] in {"public, max-age=0", "public, max-age=1"}
        simulator.configure(error_rate=0.0)
        time.sleep(1.2)
        stale = httpx.get(url, params={"at": AT})  # served at once, revalidated behind it
        assert stale.headers["x-cache"] == "stale"
        deadline = time.monotonic() + 10
        while httpx.get(url, params={"at": AT}).json()["provider"] != "horizons":
            assert time.monotonic() < deadline, "the primary was never asked again"
            time.sleep(0.1)
        refreshed = httpx.get(url, params={"at": AT})
        assert int(refreshed.headers["cache-control"].split("=")[1]) > 86400


def test_a_hung_upstream_is_answered_by_the_fallback_and_fills_the_cache_later(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    # Horizons takes 4 s; users wait at most 0.3 s on it before the local ephemeris
    # answers. Its call goes on (within the 15 s upstream timeout) and fills the cache.
    simulator.configure(latency_ms=4000)
    settings = settings_for(
        user_deadline_seconds=0.3, upstream_timeout_seconds=15.0, upstream_attempts=1
    )
    with serve_app(settings) as server:
        url = f"{server.url}/v1/ephemeris/uranus"
        answer = httpx.get(url, params={"at": AT}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["provider"] == "local"
        assert answer.headers["x-cache"] == "upstream"
        # The answer did not wait for Horizons: it has the request, but has not answered.
        stats = simulator.running.stats()
        assert stats["requests"] == 1
        assert stats["by_status"] == {}

        deadline = time.monotonic() + 20  # bounds a hang: Horizons answers after 4 s
        while httpx.get(url, params={"at": AT}).json()["provider"] != "horizons":
            assert time.monotonic() < deadline, "the late Horizons answer never reached the cache"
            time.sleep(0.1)
        late = httpx.get(url, params={"at": AT})
        assert late.headers["x-cache"] == "memory"
        # Stored as the primary's answer: fresh for days, not the fallback's hour.
        assert int(late.headers["cache-control"].split("=")[1]) > 86400
    assert simulator.requests() == 1  # the late answer was that one call, not a new one


def test_the_user_deadline_does_not_cut_short_an_upstream_without_fallback(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    simulator.configure(latency_ms=1000)
    settings = settings_for(ephemeris_providers=["horizons"], user_deadline_seconds=0.2)
    with serve_app(settings) as server:
        response = httpx.get(f"{server.url}/v1/ephemeris/neptune", params={"at": AT}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "horizons"


def test_an_outage_outside_the_local_ephemeris_is_503_not_422(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], simulator: Simulator
) -> None:
    # 1850 is inside Horizons' coverage but before DE421's: with Horizons down nothing
    # can answer for now, which is an outage (503, retry later), not a bad request.
    simulator.configure(error_rate=1.0)
    with serve_app(settings_for(upstream_attempts=1)) as server:
        response = httpx.get(
            f"{server.url}/v1/ephemeris/mars", params={"at": "1850-01-01T00:00:00Z"}, timeout=30
        )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    detail = response.json()["detail"]
    assert "horizons" in detail
    assert "local" in detail
