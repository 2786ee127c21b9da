"""One Redis link per process: the cache, the limiter and a budget share its pool and its outage.

Each test runs a redis-server of its own: so that every connection it lists is the
test's (the link's alone, and through a whole server built by ``create_app``), and so
that the outage test can stop it (open connections drop, new ones are refused) and
start it again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
import redis

from cachefront.cache import CachePolicy, RedisStore, make_entry
from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.redis_keys import budget_key_prefix, cache_key, ratelimit_key, ratelimit_key_prefix
from cachefront.redis_link import DEFAULT_CLIENT_NAME, RedisLink
from cachefront.simulators.horizons import RunningSimulator
from cachefront.upstream import OutboundBudget
from harness_servers import ServerThread, server_settings

pytestmark = pytest.mark.redis

POLICY = CachePolicy(fresh_for=timedelta(minutes=10))
LINK_LOGGER = "cachefront.redis_link"
# Longer than the production timeout: on a loaded test machine a live Redis can take
# more than 0.25 s to answer. A cut connection fails at once whatever the timeout.
TEST_SOCKET_TIMEOUT = 2.0
# How long a test waits for a condition it expects (never a measure of speed).
WAIT_SECONDS = 10.0


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test may stop and restart."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_SECONDS
        while not _answers(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server: open connections drop, new ones are refused."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
            self._process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started ``PrivateRedis``, stopped after the test whatever it did."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH to run a Redis of the test's own")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_redis_url(private_redis: PrivateRedis) -> str:
    return private_redis.url


def _answers(url: str) -> bool:
    with redis.Redis.from_url(url, socket_connect_timeout=0.2) as raw:
        try:
            return bool(raw.ping())
        except redis.ConnectionError:
            return False


def _others(raw: redis.Redis) -> list[dict[str, str]]:
    """The connections to the server of ``raw`` other than its own."""
    own = raw.client_id()
    clients: list[dict[str, str]] = raw.client_list()
    return [client for client in clients if int(client["id"]) != own]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds, failing the test after ``WAIT_SECONDS``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {WAIT_SECONDS}s")
        await asyncio.sleep(0.01)


async def test_cache_limiter_and_budget_share_the_links_one_pool(
    private_redis_url: str, redis_prefix: str
) -> None:
    name = f"cftest-{uuid.uuid4().hex[:10]}"
    link = RedisLink(
        private_redis_url,
        prefix=redis_prefix,
        socket_timeout=TEST_SOCKET_TIMEOUT,
        client_name=name,
    )
    # One connection for the test's own looks; the server has no other clients.
    raw = redis.Redis.from_url(private_redis_url, single_connection_client=True)
    store = RedisStore(link)
    limiter = InboundLimiter(parse_rate_limits({"general": "5/minute"}), redis_link=link)
    budget = OutboundBudget("5/minute", name=f"link-{uuid.uuid4().hex[:8]}", redis_link=link)
    ns = f"t{uuid.uuid4().hex[:12]}"
    identity = f"ip:{uuid.uuid4().hex[:8]}"
    try:
        await limiter.open()
        await budget.open()
        entry = make_entry(b'{"x":1}', POLICY)
        # Concurrent commands of all three uses, so the pool opens several connections.
        await asyncio.gather(
            *(store.set(ns, f"k{i}", entry) for i in range(10)),
            *(limiter.hit("general", identity) for _ in range(3)),
            *(budget.acquire("user", max_wait=1) for _ in range(3)),
        )
        assert link.uses == {"cache", "singleflight", "ratelimit", budget.redis_use}
        assert await store.get(ns, "k0") == entry
        assert store.available
        assert limiter.using_redis
        assert budget.using_redis
        # What each use wrote, under the key names of cachefront.redis_keys.
        assert raw.exists(cache_key(redis_prefix, ns, "k9"))
        assert raw.exists(ratelimit_key(redis_prefix, "general", identity))
        assert raw.exists(f"{redis_prefix}:budget_v1:LIMITER/{budget.name}/5/1/minute")

        # Every connection the three opened is one of the link's (named by it) ...
        opened = _others(raw)
        assert opened
        assert {client["name"] for client in opened} == {name}
        # ... and stays open when the uses close: it belongs to the link, not to them.
        await limiter.aclose()
        await budget.aclose()
        await store.aclose()
        assert {client["id"] for client in _others(raw)} == {client["id"] for client in opened}
        # Closing the one pool closes every connection any of the three opened.
        await link.aclose()
        await _until(lambda: not _others(raw), "closed")
    finally:
        await link.aclose()
        raw.close()


async def test_one_down_and_one_up_line_for_an_outage_all_three_uses_see(
    private_redis: PrivateRedis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    link = RedisLink(
        private_redis.url,
        prefix=redis_prefix,
        socket_timeout=TEST_SOCKET_TIMEOUT,
        backoff_first=0.05,
        backoff_max=0.05,
    )
    store = RedisStore(link)
    limiter = InboundLimiter(parse_rate_limits({"general": "100/minute"}), redis_link=link)
    budget = OutboundBudget("100/minute", name=f"link-{uuid.uuid4().hex[:8]}", redis_link=link)
    ns = f"t{uuid.uuid4().hex[:12]}"
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    try:
        await limiter.open()
        await budget.open()
        entry = make_entry(b'{"x":1}', POLICY)
        await store.set(ns, "k", entry)
        assert (await limiter.hit("general", "ip:outage")).in_redis
        await budget.acquire("user", max_wait=1)
        assert budget.using_redis

        private_redis.stop()
        # Each use meets the dead Redis itself (after the backoff lets it try again).
        assert await store.get(ns, "k") is None  # a miss, not an error
        assert link.down
        await _until(lambda: link.available, "past the backoff")
        assert not (await limiter.hit("general", "ip:outage")).in_redis  # counted in memory
        await _until(lambda: link.available, "past the backoff")
        await budget.acquire("user", max_wait=1)  # counted in memory, no error
        assert not budget.using_redis
        assert not limiter.using_redis

        private_redis.start()  # an empty Redis: what it held is gone, as after a restart
        await _until(lambda: link.available, "past the backoff")
        assert (await limiter.hit("general", "ip:outage")).in_redis
        await budget.acquire("user", max_wait=1)
        assert budget.using_redis
        await store.set(ns, "k", entry)
        assert await store.get(ns, "k") == entry
    finally:
        await limiter.aclose()
        await budget.aclose()
        await link.aclose()

    lines = [r for r in caplog.records if r.name == LINK_LOGGER]
    assert [getattr(r, "action", None) for r in lines] == ["redis.down", "redis.up"]
    assert [getattr(r, "redis_use", None) for r in lines] == ["cache", "ratelimit"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO]


def test_a_server_reaches_redis_only_over_its_one_link(
    private_redis_url: str, database_url: str
) -> None:
    raw = redis.Redis.from_url(private_redis_url, single_connection_client=True)
    try:
        with RunningSimulator() as simulator:
            settings = server_settings(
                {
                    "database_url": database_url,
                    "horizons_url": simulator.url,
                    "redis_url": private_redis_url,
                    "rate_limits": {"general": "100000/minute", "upstream": "100000/minute"},
                    "worker_in_process": False,
                }
            )
            with ServerThread(settings) as server:
                # A cold request: counted by the limiter, fetched under the budget, cached.
                response = httpx.get(
                    server.url + "/v1/ephemeris/moon", params={"at": "2032-07-08T09:00:00Z"}
                )
                assert response.status_code == 200
                assert response.headers["x-cache"] == "upstream"
                prefix = settings.redis_prefix
                names = [name.decode() for name in raw.scan_iter(match=f"{prefix}:*")]
                assert any(name.startswith(ratelimit_key_prefix(prefix)) for name in names)
                assert any(name.startswith(budget_key_prefix(prefix) + ":") for name in names)
                assert any(name.startswith(f"{prefix}:v1:c:") for name in names)
                # ... and every connection the server opened is one of its link's.
                opened = _others(raw)
                assert opened
                assert {client["name"] for client in opened} == {DEFAULT_CLIENT_NAME}
        # The lifespan closed the link, and with it every connection.
        deadline = time.monotonic() + WAIT_SECONDS
        while _others(raw):
            assert time.monotonic() < deadline, "the server's Redis connections stayed open"
            time.sleep(0.01)
    finally:
        raw.close()
