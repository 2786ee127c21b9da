"""Leased limits on the test Redis: few round trips, never over the limit, units given back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from cachefront.ratelimit import FAILED_AUTH_GROUP, InboundLimiter, parse_rate_limits
from cachefront.ratelimit.leases import lease_size
from cachefront.redis_keys import ratelimit_key
from cachefront.redis_link import RedisLink
from minute_windows import away_from_a_minute_edge

pytestmark = pytest.mark.redis


def _leased(link: RedisLink, limits_: dict[str, str]) -> InboundLimiter:
    return InboundLimiter(
        parse_rate_limits(limits_), redis_link=link, failure_limit=None, exact=False
    )


def _count_calls(limiter: InboundLimiter) -> list[int]:
    """A one-item list counting the limiter's script calls from now on."""
    client = limiter._redis
    assert client is not None
    calls = [0]
    execute = client.execute_command

    async def counting(*args: object, **options: object) -> object:
        if args and args[0] in ("EVALSHA", "EVAL"):
            calls[0] += 1
        return await execute(*args, **options)

    client.execute_command = counting  # type: ignore[method-assign]
    return calls


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


async def test_one_process_gets_the_whole_limit_in_few_round_trips(
    make_link: Callable[[], RedisLink],
) -> None:
    await away_from_a_minute_edge(5)
    limiter = _leased(make_link(), {"general": "200/minute"})
    await limiter.open()
    calls = _count_calls(limiter)
    try:
        verdicts = [await limiter.hit("general", "ip:lease-one") for _ in range(230)]
    finally:
        await limiter.aclose()
    assert [v.allowed for v in verdicts] == [True] * 200 + [False] * 30
    assert all(v.in_redis and v.leased for v in verdicts[:200])
    # Leases of 10 (5% of 200): about 20 grants, and the refused ask again at most once
    # a second, not once per request.
    assert calls[0] <= 200 // lease_size(200, 1) + 5, calls[0]
    assert 1 <= verdicts[-1].retry_after <= 60


async def test_three_processes_never_admit_more_than_the_limit(
    make_link: Callable[[], RedisLink],
) -> None:
    await away_from_a_minute_edge(10)
    limiters = [_leased(make_link(), {"general": "300/minute"}) for _ in range(3)]
    for limiter in limiters:
        await limiter.open()
    try:
        # Every process's heartbeat counts the others, so leases are sized for three.
        for limiter in limiters:
            await limiter._leases._heartbeat()  # type: ignore[union-attr]
        assert [limiter._leases.live for limiter in limiters] == [3, 3, 3]  # type: ignore[union-attr]
        verdicts = await asyncio.gather(
            *(limiters[i % 3].hit("general", "ip:lease-three") for i in range(1200))
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    admitted = sum(v.allowed for v in verdicts)
    assert 270 <= admitted <= 300, admitted


async def test_unspent_units_go_back_at_close(
    make_link: Callable[[], RedisLink],
    client: redis.asyncio.Redis,
    redis_prefix: str,
) -> None:
    await away_from_a_minute_edge(5)
    first = _leased(make_link(), {"general": "400/minute"})
    await first.open()
    try:
        assert (await first.hit("general", "ip:lease-back")).allowed
        key = ratelimit_key(redis_prefix, "general", "ip:lease-back")
        # The lease counted in Redis before any unit was spent.
        assert int(await client.hget(key, "c") or 0) == lease_size(400, 1)
    finally:
        await first.aclose()
    assert int(await client.hget(key, "c") or 0) == 1
    # Another process can then use all of what is left.
    second = _leased(make_link(), {"general": "400/minute"})
    await second.open()
    try:
        verdicts = [await second.hit("general", "ip:lease-back") for _ in range(400)]
    finally:
        await second.aclose()
    assert sum(v.allowed for v in verdicts) == 399


async def test_failed_authentications_spend_from_leases_too(
    make_link: Callable[[], RedisLink],
) -> None:
    await away_from_a_minute_edge(5)
    import limits

    limiter = InboundLimiter(
        parse_rate_limits({}),
        redis_link=make_link(),
        failure_limit=limits.parse("20/minute"),
        exact=False,
    )
    await limiter.open()
    try:
        verdicts = [await limiter.hit(FAILED_AUTH_GROUP, "ip:10.0.0.9") for _ in range(25)]
    finally:
        await limiter.aclose()
    assert [v.allowed for v in verdicts] == [True] * 20 + [False] * 5
    assert verdicts[0].leased


async def test_a_request_its_lease_covers_sends_nothing_to_redis(
    make_link: Callable[[], RedisLink],
) -> None:
    await away_from_a_minute_edge(5)
    limiter = _leased(make_link(), {"general": "20000/minute"})
    await limiter.open()
    try:
        await limiter.hit("general", "ip:lease-quiet")  # takes the first lease
        await limiter._leases.settled()  # type: ignore[union-attr]
        calls = _count_calls(limiter)
        # Below half of the lease (1000 units), no refill is asked for.
        for _ in range(lease_size(20000, 1) // 2 - 2):
            assert (await limiter.hit("general", "ip:lease-quiet")).allowed
        assert calls[0] == 0
        # Past half, one refill goes out in the background.
        for _ in range(5):
            await limiter.hit("general", "ip:lease-quiet")
        await limiter._leases.settled()  # type: ignore[union-attr]
        assert calls[0] == 1
    finally:
        await limiter.aclose()


async def test_refund_puts_the_unit_back_into_the_lease(
    make_link: Callable[[], RedisLink],
) -> None:
    await away_from_a_minute_edge(5)
    limiter = _leased(make_link(), {"generation": "2/hour"})
    await limiter.open()
    try:
        first = await limiter.hit("generation", "key:lease-refund")
        await limiter.refund("generation", "key:lease-refund", first)
        verdicts = [await limiter.hit("generation", "key:lease-refund") for _ in range(3)]
    finally:
        await limiter.aclose()
    assert [v.allowed for v in verdicts] == [True, True, False]
