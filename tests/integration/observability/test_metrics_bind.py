"""CACHEFRONT_METRICS_BIND: /metrics on a second address, without a key, and nothing else.

A real server on a local port with the scrapers' listener on another; requests go
over real HTTP to both.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.observability.scrape_bind import MetricsListener
from harness_servers import ServerThread

KEY = "metrics-bind-service-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_scrapers_get_metrics_without_a_key_on_their_address_only(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    bind = f"127.0.0.1:{_free_port()}"
    with serve_app(settings_for(service_key=KEY, metrics_bind=bind)) as server:
        for _ in range(3):
            assert httpx.get(f"{server.url}/health").status_code == 200
        scraped = httpx.get(f"http://{bind}/metrics", timeout=10)
        assert scraped.status_code == 200, scraped.text
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            (s.name, s.labels.get("route")): s.value
            for family in text_string_to_metric_families(scraped.text)
            for s in family.samples
            if s.name == "cachefront_requests_total"
        }
        assert samples[("cachefront_requests_total", "/health")] == 3
        # The main address still wants the service key.
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        # The scrapers' address answers /metrics and nothing else.
        other = httpx.get(f"http://{bind}/v1/admin/health", timeout=10)
        assert other.status_code == 404
        assert other.headers["content-type"] == "application/problem+json"
        assert "only /metrics" in other.json()["detail"]
        posted = httpx.post(f"http://{bind}/metrics", timeout=10)
        assert posted.status_code == 405
        assert "GET" in posted.json()["detail"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{bind}/metrics", timeout=5)  # closed with the server


def test_no_bind_is_set_by_default_and_a_bad_one_is_refused_naming_it() -> None:
    assert Settings(_env_file=None).metrics_bind is None  # type: ignore[call-arg]
    for bad in ("9100", "localhost:", ":9100", "host:nine"):
        with pytest.raises(ConfigurationError, match=r"CACHEFRONT_METRICS_BIND: .*host:port"):
            Settings(_env_file=None, metrics_bind=bad)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"CACHEFRONT_METRICS_BIND: .*1 to 65535"):
        Settings(_env_file=None, metrics_bind="host:99999")  # type: ignore[call-arg]
    ipv6 = Settings(_env_file=None, metrics_bind="[::1]:9100")  # type: ignore[call-arg]
    assert ipv6.metrics_bind == "[::1]:9100"


async def test_listeners_of_several_processes_share_the_address() -> None:
    # What `serve --workers N` does: each worker binds the same address. Two listeners
    # in one process stand for two; without SO_REUSEPORT the second bind would fail.
    bind = f"127.0.0.1:{_free_port()}"

    async def first() -> bytes:
        return b"first\n"

    async def second() -> bytes:
        return b"second\n"

    listeners = [MetricsListener(bind, first), MetricsListener(bind, second)]
    for listener in listeners:
        await listener.start()
    try:
        seen = set()
        for _ in range(64):
            async with httpx.AsyncClient() as client:  # a connection each: spread by the kernel
                answer = await client.get(f"http://{bind}/metrics", timeout=10)
            assert answer.status_code == 200
            seen.add(answer.text)
        assert seen == {"first\n", "second\n"}
    finally:
        for listener in listeners:
            await listener.aclose()
