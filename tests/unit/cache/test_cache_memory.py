"""The memory tier: byte bound, LRU order, TTL, the size cap of one entry."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.cache.keys import MEMORY_ENTRY_OVERHEAD_BYTES

if TYPE_CHECKING:
    from .conftest import FakeClock

POLICY = CachePolicy(fresh_for=timedelta(seconds=60), stale_for=timedelta(seconds=60))
COST = 100 + MEMORY_ENTRY_OVERHEAD_BYTES  # what one 100-byte entry costs


def _store(clock: FakeClock, entries: int = 3) -> MemoryStore:
    return MemoryStore(max_bytes=entries * COST, max_entry_bytes=1000, clock=clock)


def test_peek_returns_what_put_stored(clock: FakeClock) -> None:
    store = _store(clock)
    entry = make_entry(b"x" * 100, POLICY, now=clock())
    store.put("ns", "k", entry)
    assert store.peek("ns", "k") is entry
    assert store.peek("ns", "other") is None
    assert store.peek("other", "k") is None


def test_entries_live_until_expires_at_stale_included(clock: FakeClock) -> None:
    store = _store(clock)
    store.put("ns", "k", make_entry(b"x", POLICY, now=clock()))
    clock.advance(90)  # stale, not expired: still held, the caller decides
    assert store.peek("ns", "k") is not None
    clock.advance(30)
    assert store.peek("ns", "k") is None
    assert len(store) == 0
    assert store.size_bytes == 0


def test_byte_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    store = _store(clock, entries=3)
    for key in "abc":
        store.put("ns", key, make_entry(b"x" * 100, POLICY, now=clock()))
    assert store.peek("ns", "a") is not None  # a is now the most recently used
    store.put("ns", "d", make_entry(b"x" * 100, POLICY, now=clock()))
    assert store.peek("ns", "b") is None  # b was the least recently used
    assert {key for key in "acd" if store.peek("ns", key)} == {"a", "c", "d"}
    assert store.size_bytes == 3 * COST
    assert store.size_bytes <= store.max_bytes


def test_replacing_an_entry_counts_its_bytes_once(clock: FakeClock) -> None:
    store = _store(clock)
    for _ in range(10):
        store.put("ns", "k", make_entry(b"x" * 100, POLICY, now=clock()))
    assert len(store) == 1
    assert store.size_bytes == COST


def test_entries_over_the_cap_are_not_kept_nor_their_old_version(clock: FakeClock) -> None:
    store = MemoryStore(max_bytes=10_000, max_entry_bytes=50, clock=clock)
    store.put("ns", "k", make_entry(b"small", POLICY, now=clock()))
    store.put("ns", "k", make_entry(b"x" * 51, POLICY, now=clock()))
    assert store.peek("ns", "k") is None
    assert store.size_bytes == 0


def test_expired_entries_are_not_stored(clock: FakeClock) -> None:
    store = _store(clock)
    store.put("ns", "k", make_entry(b"x", POLICY, now=clock() - 1000))
    assert len(store) == 0


def test_discard_prefix_forgets_only_matching_keys_of_the_namespace(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    for ns, key in [("a", "mars:1"), ("a", "mars:2"), ("a", "venus:1"), ("b", "mars:1")]:
        store.put(ns, key, make_entry(b"x", POLICY, now=clock()))
    assert store.discard_prefix("a", "mars:") == 2
    assert store.peek("a", "venus:1") is not None
    assert store.peek("b", "mars:1") is not None
    assert store.discard("a", "venus:1") == 1
    assert store.discard("a", "venus:1") == 0


async def test_async_interface_matches_the_sync_one(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    entry = make_entry(b"v", POLICY, now=clock())
    await store.set_many("ns", {"a": entry, "b": entry})
    assert await store.get("ns", "a") is entry
    assert await store.get_many("ns", ["a", "b", "c"]) == {"a": entry, "b": entry}
    assert await store.delete_prefix("ns") == 2
