"""Fixtures for the upstream room: a scripted real HTTP server and a proxy in front of Redis.

The server starts once per session; each test takes a fresh ``ScriptedRoute`` (its own
path), scripts the replies it wants (status, headers, delay) and reads back what
arrived. The proxy lets a test cut Redis off and bring it back, as an outage would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from upstream_testserver import ScriptedRoute, ScriptedServer, TcpProxy, running_server


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[ScriptedServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def route(upstream_server: ScriptedServer) -> ScriptedRoute:
    """A fresh path on the scripted server; answers 200 until scripted otherwise."""
    return upstream_server.new_route()


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test Redis, and the redis:// URL that goes through it."""
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    netloc = f"127.0.0.1:{proxy.port}"
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
    yield proxy, parts._replace(netloc=netloc).geturl()
    await proxy.stop()
