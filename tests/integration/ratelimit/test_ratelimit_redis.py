"""The Redis sliding-window script: one call per hit or per batch, exact across limiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.ratelimit import limiter as limiter_module
from cachefront.redis_link import RedisLink

pytestmark = pytest.mark.redis


@dataclass
class Counted:
    """A limiter on the test Redis whose Redis commands are counted from the start."""

    limiter: InboundLimiter
    calls: int = 0


@pytest.fixture
async def counted(make_link: Callable[[], RedisLink]) -> AsyncIterator[Counted]:
    limiter = InboundLimiter(parse_rate_limits({"general": "5/minute"}), redis_link=make_link())
    await limiter.open()
    client = limiter._redis
    assert client is not None
    await limiter.hit("general", "ip:warm-up")  # loads the script if this Redis lacks it
    result = Counted(limiter)
    execute = client.execute_command

    async def counting(*args: object, **options: object) -> object:
        result.calls += 1
        return await execute(*args, **options)

    client.execute_command = counting  # type: ignore[method-assign]
    yield result
    await limiter.aclose()


async def test_redis_counts_exactly_with_remaining_and_reset_in_one_call(
    counted: Counted,
) -> None:
    verdicts = [await counted.limiter.hit("general", "ip:redis-test") for _ in range(7)]
    await counted.limiter.aclose()
    assert counted.limiter._redis is None
    assert counted.calls == 7  # one round trip per hit (EVALSHA) when hits come one at a time
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 2
    remaining = [dict(v.headers)[b"ratelimit"] for v in verdicts]
    assert [r.split(b";")[1] for r in remaining] == [b"r=4", b"r=3", b"r=2", b"r=1", b"r=0"] + [
        b"r=0"
    ] * 2
    assert all(1 <= v.retry_after <= 120 for v in verdicts[5:])


async def test_another_limiter_on_the_same_redis_spends_from_the_same_count(
    make_link: Callable[[], RedisLink],
) -> None:
    limits_ = parse_rate_limits({"general": "4/minute"})
    # Two links: two processes sharing one Redis.
    first = InboundLimiter(limits_, redis_link=make_link())
    second = InboundLimiter(limits_, redis_link=make_link())
    await first.open()
    await second.open()
    try:
        allowed = [
            (await limiter.hit("general", "ip:shared")).allowed
            for limiter in (first, second, first, second, first, second)
        ]
        assert first.using_redis
        assert second.using_redis
    finally:
        await first.aclose()
        await second.aclose()
    assert allowed == [True] * 4 + [False] * 2


async def test_server_without_the_script_gets_it_by_eval(
    make_link: Callable[[], RedisLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SHA no server knows stands in for a restarted or flushed Redis (SCRIPT FLUSH
    # would drop every script of everyone sharing this Redis).
    monkeypatch.setattr(limiter_module, "_SLIDING_WINDOW_SHA", "0" * 40)
    limiter = InboundLimiter(parse_rate_limits({"general": "5/minute"}), redis_link=make_link())
    await limiter.open()
    try:
        verdicts = [await limiter.hit("general", "ip:noscript") for _ in range(2)]
        assert limiter.using_redis
    finally:
        await limiter.aclose()
    assert [dict(v.headers)[b"ratelimit"].split(b";")[1] for v in verdicts] == [b"r=4", b"r=3"]


async def test_concurrent_hits_share_one_round_trip_and_stay_exact(counted: Counted) -> None:
    hits = (counted.limiter.hit("general", "ip:batched") for _ in range(50))
    verdicts = await asyncio.gather(*hits)
    # The first hit went at once; the 49 that arrived while it was in flight, as one call.
    assert counted.calls == 2
    assert sum(v.allowed for v in verdicts) == 5
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 45  # in arrival order


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_refund_gives_the_unit_back_in_either_storage(
    storage: str, make_link: Callable[[], RedisLink]
) -> None:
    limiter = InboundLimiter(
        parse_rate_limits({"generation": "2/hour"}),
        redis_link=make_link() if storage == "redis" else None,
    )
    await limiter.open()
    try:
        first = await limiter.hit("generation", f"key:refund-{storage}")
        await limiter.refund("generation", f"key:refund-{storage}", first)
        verdicts = [await limiter.hit("generation", f"key:refund-{storage}") for _ in range(3)]
        assert limiter.using_redis is (storage == "redis")
        assert first.in_redis is (storage == "redis")
    finally:
        await limiter.aclose()
    assert [v.allowed for v in verdicts] == [True, True, False]


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_retry_after_of_an_hourly_quota_is_at_most_an_hour(
    storage: str, make_link: Callable[[], RedisLink]
) -> None:
    limiter = InboundLimiter(
        parse_rate_limits({"generation": "1/hour"}),
        redis_link=make_link() if storage == "redis" else None,
    )
    await limiter.open()
    try:
        verdicts = [await limiter.hit("generation", f"key:hourly-{storage}") for _ in range(2)]
    finally:
        await limiter.aclose()
    assert [v.allowed for v in verdicts] == [True, False]
    # The counted hit is a few ms old, so an hour from now it is gone; the weighting
    # alone would wait for the rest of this window and all of the next.
    assert 3590 <= verdicts[1].retry_after <= 3600
    assert dict(verdicts[1].headers)[b"ratelimit"].endswith(b";t=%d" % verdicts[1].retry_after)
