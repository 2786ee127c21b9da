"""Client addresses and redirects through real HTTP: X-Forwarded-For and Host cannot be forged."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from cachefront.app import create_app
from cachefront.config import Settings
from harness_servers import ServerThread


def _server(settings: Settings, app: ASGIApp | None = None) -> ServerThread:
    server = ServerThread(settings, app=app)
    # As `cachefront serve` must run it: uvicorn's own X-Forwarded-For handling (which
    # trusts 127.0.0.1) off, so the gate alone decides whom to believe.
    server.server.config.proxy_headers = False
    return server


def _statuses(url: str, forwarded_for: list[str]) -> list[int]:
    return [httpx.get(url, headers={"X-Forwarded-For": f}).status_code for f in forwarded_for]


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    settings_for: Callable[..., Settings],
) -> None:
    limits = {"general": "3/minute", "upstream": "100000/minute"}
    forged = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    with _server(settings_for(rate_limits=limits)) as server:
        # Every request counts against the peer's address, whatever the header says.
        assert _statuses(f"{server.url}/health", forged) == [200, 200, 200, 429]
    with _server(settings_for(rate_limits=limits, trusted_proxies=["127.0.0.0/8"])) as server:
        url = f"{server.url}/health"
        # Behind a trusted proxy each client counts alone ...
        assert _statuses(url, forged) == [200] * 4
        # ... by the right-most hop the proxy did not add itself: what a client puts
        # in front of it does not make it someone else.
        spoofed = [f"{n}.0.0.1, 203.0.113.7" for n in range(1, 5)]
        assert _statuses(url, spoofed) == [200, 200, 200, 429]


def test_routes_see_the_client_the_gate_counted(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(trusted_proxies=["127.0.0.1"])
    app = create_app(settings)
    layer: object = app
    while not isinstance(layer, FastAPI):
        layer = layer.app  # type: ignore[attr-defined]

    async def whoami(request: Request) -> dict[str, str | None]:
        return {"client": request.client.host if request.client else None}

    # Registered on this test's app instance only.
    layer.add_api_route("/test-only/whoami", whoami, methods=["GET"])
    with _server(settings, app) as server:
        url = f"{server.url}/test-only/whoami"
        forwarded = httpx.get(url, headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.7"})
        assert forwarded.json() == {"client": "203.0.113.7"}
        assert httpx.get(url).json() == {"client": "127.0.0.1"}


def test_slash_redirect_never_uses_the_host_header(
    settings_for: Callable[..., Settings],
) -> None:
    with _server(settings_for()) as server:
        response = httpx.get(
            f"{server.url}/health/", headers={"Host": "evil.example"}, follow_redirects=False
        )
        assert "evil.example" not in response.headers.get("location", "")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-request-id"]
