"""The dashboard's session cookie is Secure when the browser came over HTTPS, proxy or not.

Behind the documented nginx, TLS ends at the proxy and the server sees plain HTTP
(uvicorn runs with ``proxy_headers=False``); the proxy says ``X-Forwarded-Proto``,
which only a peer in ``CACHEFRONT_TRUSTED_PROXIES`` may say. A real server on a local
port; the test's client stands for the proxy (or for a client that claims to be one).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.observability.tokens import new_login_token
from harness_servers import ServerThread


async def _cookie(database_url: str, url: str, headers: dict[str, str]) -> str:
    engine = create_engine(database_url, pool_size=1)
    try:
        token = await new_login_token(engine)
    finally:
        await engine.dispose()
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{url}/dashboard/login", params={"token": token}, headers=headers
        )
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("trusted", "headers", "secure"),
    [
        # From the trusted proxy: its word decides.
        ("127.0.0.1", {"X-Forwarded-Proto": "https"}, True),
        ("127.0.0.0/8", {"X-Forwarded-Proto": "HTTPS"}, True),
        ("127.0.0.1", {"X-Forwarded-Proto": "http"}, False),
        ("127.0.0.1", {}, False),
        # The value the nearest proxy added last is the one believed.
        ("127.0.0.1", {"X-Forwarded-Proto": "https, http"}, False),
        # From a peer that is not a trusted proxy, the header is anyone's claim.
        ("", {"X-Forwarded-Proto": "https"}, False),
        ("10.0.0.1", {"X-Forwarded-Proto": "https"}, False),
    ],
)
async def test_the_cookie_is_secure_only_on_a_trusted_proxys_https(
    database_url: str,
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    trusted: str,
    headers: dict[str, str],
    secure: bool,
) -> None:
    with serve_app(settings_for(trusted_proxies=trusted)) as server:
        cookie = await _cookie(database_url, server.url, headers)
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert ("; secure" in cookie) is secure, cookie
