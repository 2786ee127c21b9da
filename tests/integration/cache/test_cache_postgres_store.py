"""The PostgreSQL tier: round trips, batch upsert, prefix deletes, advisory locks."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import CachePolicy, PostgresStore, make_entry

POLICY = CachePolicy(fresh_for=timedelta(minutes=1), stale_for=timedelta(minutes=10))


@pytest.fixture
def store(engine: AsyncEngine) -> PostgresStore:
    return PostgresStore(engine)


async def test_round_trip_keeps_bytes_and_times(store: PostgresStore, ns: str) -> None:
    entry = make_entry(b'{"ra":"12 34 56.7"}\x00\xff', POLICY, now=time.time())
    await store.set(ns, "mars", entry)
    got = await store.get(ns, "mars")
    assert got is not None
    assert (got.value, got.etag, got.negative) == (entry.value, entry.etag, False)
    # timestamptz keeps microseconds
    assert got.stored_at == pytest.approx(entry.stored_at, abs=1e-6)
    assert got.fresh_until == pytest.approx(entry.fresh_until, abs=1e-6)
    assert got.expires_at == pytest.approx(entry.expires_at, abs=1e-6)
    assert await store.get(ns, "venus") is None
    assert await store.get("elsewhere", "mars") is None


async def test_set_many_and_get_many(store: PostgresStore, ns: str) -> None:
    now = time.time()
    entries = {f"k{i}": make_entry(f"v{i}".encode(), POLICY, now=now) for i in range(2500)}
    entries["nf"] = make_entry(b"", POLICY, now=now, negative=True)
    await store.set_many(ns, entries)
    found = await store.get_many(ns, ["k0", "k2499", "nf", "absent"])
    assert set(found) == {"k0", "k2499", "nf"}
    assert found["k2499"].value == b"v2499"
    assert found["nf"].negative


async def test_an_older_entry_never_replaces_a_newer_one(store: PostgresStore, ns: str) -> None:
    now = time.time()
    newer = make_entry(b"newer", POLICY, now=now)
    older = make_entry(b"older", POLICY, now=now - 5)
    await store.set(ns, "k", newer)
    await store.set(ns, "k", older)
    got = await store.get(ns, "k")
    assert got is not None
    assert got.value == b"newer"
    newest = make_entry(b"newest", POLICY, now=now + 1)
    await store.set(ns, "k", newest)
    got = await store.get(ns, "k")
    assert got is not None
    assert got.value == b"newest"


async def test_delete_and_delete_prefix_take_the_prefix_literally(
    store: PostgresStore, ns: str
) -> None:
    entry = make_entry(b"x", POLICY)
    await store.set_many(ns, {"50%_a": entry, "50%_b": entry, "500_c": entry, "other": entry})
    assert await store.delete_prefix(ns, "50%_") == 2
    assert set(await store.get_many(ns, ["500_c", "other"])) == {"500_c", "other"}
    assert await store.delete(ns, "other") == 1
    assert await store.delete(ns, "other") == 0
    await store.set_many(ns, {"a\\b1": entry, "a\\b2": entry, "ab": entry})
    assert await store.delete_prefix(ns, "a\\") == 2
    assert await store.delete_prefix(ns) == 2


async def test_locked_serializes_fills_and_publishes_on_commit(
    store: PostgresStore, ns: str
) -> None:
    order: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with store.locked(ns, ["b", "a"]) as locked:
            first_holds.set()
            order.append("first locked")
            await asyncio.sleep(0.2)
            await locked.set_many(ns, {"a": make_entry(b"filled", POLICY)})
            order.append("first wrote")

    async def second() -> None:
        await first_holds.wait()
        async with store.locked(ns, ["a", "c"]) as locked:
            order.append("second locked")
            found = await locked.get_many(ns, ["a"])
            assert found["a"].value == b"filled"

    await asyncio.gather(first(), second())
    assert order == ["first locked", "first wrote", "second locked"]
