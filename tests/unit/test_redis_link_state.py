"""The Redis link's pool options and outage state machine, without a Redis server."""

from __future__ import annotations

import logging

import pytest

from cachefront.redis_link import RedisLink

LINK_LOGGER = "cachefront.redis_link"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_pool_times_out_as_configured_and_never_retries() -> None:
    link = RedisLink("async+redis://127.0.0.1:1/0", prefix="dep1", socket_timeout=1.5)
    options = link.pool.connection_kwargs
    assert (options["host"], options["port"]) == ("127.0.0.1", 1)  # "async+" dropped
    assert options["socket_timeout"] == 1.5
    assert options["socket_connect_timeout"] == 1.5
    assert options["retry"].get_retries() == 0
    assert options["client_name"] == "cachefront"
    assert link.client.connection_pool is link.pool
    assert link.prefix == "dep1"
    await link.aclose()


async def test_one_outage_of_many_failures_logs_one_down_and_one_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    link = RedisLink("redis://127.0.0.1:1/0", backoff_first=1, backoff_max=5, clock=clock)
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    link.succeeded("cache")  # nothing to end
    assert link.available
    assert not link.down

    link.failed("cache", "get", ConnectionError("refused"))
    link.failed("ratelimit", "hit", ConnectionError("refused"))  # same attempt: same outage
    assert link.down
    assert not link.available
    clock.now += 1
    assert link.available  # the first backoff is over: one use may try again
    link.failed("budget:horizons", "acquire", ConnectionError("refused"))
    clock.now += 1.5
    assert not link.available  # doubled to 2 s
    clock.now += 0.5
    assert link.available
    link.succeeded("ratelimit")
    link.succeeded("cache")
    assert not link.down

    lines = [r for r in caplog.records if r.name == LINK_LOGGER]
    assert [(r.levelno, getattr(r, "action", None)) for r in lines] == [
        (logging.WARNING, "redis.down"),
        (logging.INFO, "redis.up"),
    ]
    assert [getattr(r, "redis_use", None) for r in lines] == ["cache", "ratelimit"]
    assert getattr(lines[0], "redis_command", None) == "get"
    await link.aclose()


async def test_the_backoff_stops_doubling_at_its_maximum() -> None:
    clock = Clock()
    link = RedisLink("redis://127.0.0.1:1/0", backoff_first=1, backoff_max=3, clock=clock)
    for _ in range(4):  # 1, 2, 3, 3
        link.failed("cache", "get", "no answer")
        while not link.available:
            clock.now += 0.25
    link.failed("cache", "get", "no answer")
    clock.now += 2.75
    assert not link.available
    clock.now += 0.25
    assert link.available
    await link.aclose()


async def test_the_link_counts_its_uses() -> None:
    link = RedisLink("redis://127.0.0.1:1/0")
    assert link.register("cache") is link.register("ratelimit")
    assert link.uses == {"cache", "ratelimit"}
    await link.aclose()
