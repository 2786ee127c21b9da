"""Single-flight against real servers: one fetch per key, in one cache and across caches.

Two caches built by ``make_cache`` share nothing but the servers (own memory, own Redis
client, own in-process flights), like two processes of one deployment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import redis

from cachefront.cache import CachePolicy, Tier
from cachefront.errors import UpstreamError
from cachefront.redis_keys import lock_key

if TYPE_CHECKING:
    from cache_fixtures import CacheFactory

POLICY = CachePolicy(fresh_for=timedelta(minutes=10), stale_for=timedelta(hours=1))


class Upstream:
    """A slow upstream that counts calls and the keys it was asked for."""

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self.calls = 0
        self.keys: Counter[str] = Counter()
        self.fail_first = False

    async def fetch(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail_first and self.calls == 1:
            raise UpstreamError("sim", "HTTP 503")
        return b'{"value":42}'

    async def fetch_many(self, keys: list[str]) -> Mapping[str, bytes]:
        self.calls += 1
        self.keys.update(keys)
        await asyncio.sleep(self.delay)
        return {key: f'"{key}"'.encode() for key in keys}


async def test_200_concurrent_cold_callers_fetch_once(make_cache: CacheFactory, ns: str) -> None:
    cache = await make_cache()
    upstream = Upstream()
    results = await asyncio.gather(
        *(cache.get_or_fetch(ns, "hot", upstream.fetch, POLICY) for _ in range(200))
    )
    assert upstream.calls == 1
    assert {result.entry.etag for result in results} == {results[0].entry.etag}


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis-lock", "advisory-lock"])
async def test_two_caches_with_100_callers_each_fetch_once(
    make_cache: CacheFactory, ns: str, with_redis: bool
) -> None:
    one = await make_cache(redis=with_redis)
    two = await make_cache(redis=with_redis)
    upstream = Upstream()
    results = await asyncio.gather(
        *(
            cache.get_or_fetch(ns, "hot", upstream.fetch, POLICY)
            for _ in range(100)
            for cache in (one, two)
        )
    )
    assert upstream.calls == 1
    assert len({result.entry.etag for result in results}) == 1
    tiers = {result.tier for result in results}
    assert Tier.UPSTREAM in tiers
    # The other cache's callers got it from the shared tiers, or from memory once
    # their flight had filled it; none from a second fetch.
    assert tiers <= {Tier.UPSTREAM, Tier.REDIS, Tier.DB, Tier.MEMORY}


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis-lock", "advisory-lock"])
async def test_overlapping_batches_in_two_caches_fetch_each_key_once(
    make_cache: CacheFactory, ns: str, with_redis: bool
) -> None:
    one = await make_cache(redis=with_redis)
    two = await make_cache(redis=with_redis)
    upstream = Upstream()
    first = [f"k{i:02d}" for i in range(10)]
    second = [f"k{i:02d}" for i in range(5, 15)]
    got_one, got_two = await asyncio.gather(
        one.get_many_or_fetch(ns, first, upstream.fetch_many, POLICY),
        two.get_many_or_fetch(ns, second, upstream.fetch_many, POLICY),
    )
    assert list(got_one) == first
    assert list(got_two) == second
    assert set(upstream.keys) == set(first) | set(second)
    assert set(upstream.keys.values()) == {1}  # every key fetched exactly once
    assert upstream.calls == 2  # one batch per cache: the keys each was first to lock
    for key in set(first) & set(second):
        assert got_one[key].entry.etag == got_two[key].entry.etag


async def test_one_cache_fetches_all_misses_in_one_batch(make_cache: CacheFactory, ns: str) -> None:
    cache = await make_cache()
    upstream = Upstream(delay=0)
    await cache.put_many(ns, {"k1": b"1", "k3": b"3"}, POLICY)
    got = await cache.get_many_or_fetch(
        ns, ["k0", "k1", "k2", "k3", "k4"], upstream.fetch_many, POLICY
    )
    assert upstream.calls == 1
    assert sorted(upstream.keys) == ["k0", "k2", "k4"]
    assert [got[key].tier for key in sorted(got)] == [
        Tier.UPSTREAM,
        Tier.MEMORY,
        Tier.UPSTREAM,
        Tier.MEMORY,
        Tier.UPSTREAM,
    ]


async def test_waiters_take_over_when_the_lock_holder_fails(
    make_cache: CacheFactory, ns: str
) -> None:
    one, two = await make_cache(), await make_cache()
    upstream = Upstream()
    upstream.fail_first = True
    results = await asyncio.gather(
        one.get_or_fetch(ns, "k", upstream.fetch, POLICY),
        two.get_or_fetch(ns, "k", upstream.fetch, POLICY),
        return_exceptions=True,
    )
    assert upstream.calls == 2
    errors = [result for result in results if isinstance(result, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], UpstreamError)


async def test_a_lock_left_by_a_dead_holder_expires(
    make_cache: CacheFactory, ns: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    cache = await make_cache()
    redis_client.set(lock_key(redis_prefix, ns, "k"), "crashed-holder", px=300)
    upstream = Upstream(delay=0)
    started = time.monotonic()
    got = await cache.get_or_fetch(ns, "k", upstream.fetch, POLICY)
    waited = time.monotonic() - started
    assert got.tier is Tier.UPSTREAM
    assert upstream.calls == 1
    assert 0.25 < waited < 5.0
