"""Fixtures for the cache against real PostgreSQL and Redis (used by integration/cache and faults).

Every test gets a namespace of its own, so tests share the session's database and
Redis without seeing each other's entries. ``make_cache`` builds independent caches
(own memory, own Redis link, own single-flight) over the same servers: two of them
behave like two processes of one deployment.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import MemoryStore, PostgresStore, RedisStore, SingleFlight, TieredCache
from cachefront.redis_link import RedisLink

# Longer than the production timeout: on a loaded test machine a live Redis can take
# more than 0.25 s to answer, and the store would rightly treat it as gone. The outage
# tests stop the server, which refuses connections at once whatever the timeout.
TEST_SOCKET_TIMEOUT = 2.0


class CacheFactory(Protocol):
    async def __call__(
        self,
        *,
        redis: bool = True,
        db: bool = True,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> TieredCache: ...


@pytest.fixture
def ns() -> str:
    """A namespace unique to the test."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def make_cache(
    engine: AsyncEngine, redis_server_url: str | None, redis_prefix: str
) -> AsyncIterator[CacheFactory]:
    """Builds opened caches over the session's servers; closes them after the test."""
    built: list[TieredCache] = []
    links: list[RedisLink] = []

    async def make(
        *,
        redis: bool = True,
        db: bool = True,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> TieredCache:
        url = redis_url or redis_server_url
        if redis and url is None:
            pytest.skip("needs Redis: none answered at CACHEFRONT_TEST_REDIS_URL")
        redis_store = None
        if redis and url is not None:
            link = RedisLink(
                url,
                prefix=redis_prefix,
                socket_timeout=TEST_SOCKET_TIMEOUT,
                backoff_first=0.2,
                backoff_max=0.4,
            )
            links.append(link)
            redis_store = RedisStore(link, clock=clock)
        db_store = PostgresStore(engine) if db else None
        cache = TieredCache(
            memory=MemoryStore(clock=clock),
            redis=redis_store,
            db=db_store,
            locks=SingleFlight(redis=redis_store, db=db_store, lock_seconds=5),
            clock=clock,
        )
        await cache.open()
        built.append(cache)
        return cache

    yield make
    for cache in built:
        await cache.aclose()
    for link in links:
        await link.aclose()


@pytest.fixture
async def redis_store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisStore]:
    link = RedisLink(redis_url, prefix=redis_prefix, socket_timeout=TEST_SOCKET_TIMEOUT)
    yield RedisStore(link)
    await link.aclose()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at what the store wrote."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class RedisServer:
    """A redis-server of the test's own, which the test may stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "yes",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            check=False,
            capture_output=True,
        )
        deadline = time.monotonic() + 10
        while self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
            time.sleep(0.02)

    def answers(self) -> bool:
        client = redis.Redis(
            port=self.port,
            socket_connect_timeout=0.2,
            socket_timeout=0.2,
            retry=Retry(NoBackoff(), 0),  # the client's own retries would take seconds
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private Redis server, stopped at the end whatever the test did to it."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("needs redis-server and redis-cli on PATH to stop and restart a Redis")
    server = RedisServer(_free_port())
    server.start()
    yield server
    server.stop()
