"""Fixtures for the inbound limiter: Redis links closed after each test, test servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from cachefront.redis_link import RedisLink
from http_fixtures import empty_cache, settings_for, simulator, simulator_session

__all__ = ["empty_cache", "make_link", "settings_for", "simulator", "simulator_session"]

# Longer than the production timeout: on a loaded test machine a live Redis can take
# more than 0.25 s to answer, and the limiter would rightly count in memory instead.
TEST_SOCKET_TIMEOUT = 2.0


@pytest.fixture
async def make_link(redis_url: str, redis_prefix: str) -> AsyncIterator[Callable[[], RedisLink]]:
    """Builds Redis links to the test Redis (one per simulated process); closes them."""
    links: list[RedisLink] = []

    def make() -> RedisLink:
        link = RedisLink(redis_url, prefix=redis_prefix, socket_timeout=TEST_SOCKET_TIMEOUT)
        links.append(link)
        return link

    yield make
    for link in links:
        await link.aclose()
