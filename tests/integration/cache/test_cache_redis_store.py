"""The Redis tier: round trips, TTLs, prefix deletes, single-flight locks."""

from __future__ import annotations

import time
from datetime import timedelta

import redis

from cachefront.cache import CachePolicy, RedisStore, make_entry
from cachefront.redis_keys import cache_key, lock_key

POLICY = CachePolicy(fresh_for=timedelta(seconds=60), stale_for=timedelta(seconds=60))


async def test_round_trip_with_ttl_to_expiry(
    redis_store: RedisStore, redis_client: redis.Redis, ns: str
) -> None:
    entry = make_entry(b'{"x":1}', POLICY, now=time.time())
    await redis_store.set(ns, "k", entry)
    assert await redis_store.get(ns, "k") == entry
    ttl_ms = redis_client.pttl(cache_key(redis_store.prefix, ns, "k"))
    assert 110_000 < ttl_ms <= 120_000


async def test_expired_entries_are_not_written(
    redis_store: RedisStore, redis_client: redis.Redis, ns: str
) -> None:
    # An entry past its expiry has no TTL left to give Redis (PX must be positive).
    # Skipping it must not fail the batch: the fresh entry beside it is written, and
    # Redis is not taken for down (which would skip it for the backoff).
    fresh = make_entry(b"new", POLICY)
    expired = make_entry(b"x", POLICY, now=time.time() - 1000)
    await redis_store.set_many(ns, {"old": expired, "new": fresh})
    assert not redis_store.down
    assert redis_client.exists(cache_key(redis_store.prefix, ns, "old")) == 0
    assert await redis_store.get(ns, "new") == fresh


async def test_set_many_get_many(redis_store: RedisStore, ns: str) -> None:
    entries = {f"k{i}": make_entry(bytes([i]), POLICY) for i in range(100)}
    await redis_store.set_many(ns, entries)
    found = await redis_store.get_many(ns, ["k0", "k99", "absent"])
    assert found == {"k0": entries["k0"], "k99": entries["k99"]}


async def test_delete_prefix_takes_glob_characters_literally(
    redis_store: RedisStore, ns: str
) -> None:
    entry = make_entry(b"x", POLICY)
    await redis_store.set_many(ns, {"a*1": entry, "a*2": entry, "ab": entry, "b": entry})
    assert await redis_store.delete_prefix(ns, "a*") == 2
    assert set(await redis_store.get_many(ns, ["ab", "b"])) == {"ab", "b"}
    assert await redis_store.delete(ns, "b") == 1
    assert await redis_store.delete_prefix(ns) == 1


async def test_locks_belong_to_their_token(
    redis_store: RedisStore, redis_client: redis.Redis, ns: str
) -> None:
    assert await redis_store.try_lock_many(ns, ["a", "b"], "tok1", 5) == {"a", "b"}
    assert await redis_store.try_lock_many(ns, ["b", "c"], "tok2", 5) == {"c"}
    assert await redis_store.held_locks(ns, ["a", "b", "c", "d"]) == {"a", "b", "c"}
    pttl = redis_client.pttl(lock_key(redis_store.prefix, ns, "a"))
    assert 3000 < pttl <= 5000

    await redis_store.unlock_many(ns, ["a", "b", "c"], "tok2")  # only c is tok2's
    assert await redis_store.held_locks(ns, ["a", "b", "c"]) == {"a", "b"}
    await redis_store.unlock_many(ns, ["a", "b"], "tok1")
    assert await redis_store.held_locks(ns, ["a", "b"]) == set()
