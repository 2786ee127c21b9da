"""The read-through engine over the memory tier alone: decisions, single-flight, failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from cachefront.cache import CachePolicy, Fetched, MemoryStore, Tier, TieredCache
from cachefront.cache.background import in_background
from cachefront.errors import NotFoundError, NotReadyError, UpstreamError

if TYPE_CHECKING:
    from .conftest import FakeClock

POLICY = CachePolicy(
    fresh_for=timedelta(seconds=60),
    stale_for=timedelta(seconds=600),
    negative_for=timedelta(seconds=30),
    tiers=("memory",),
)


class Upstream:
    """A fetch function that counts its calls and answers what the test sets."""

    def __init__(self, value: bytes = b'{"v":1}') -> None:
        self.value = value
        self.calls = 0
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.batches: list[list[str]] = []
        self.in_background: list[bool] = []

    async def fetch(self) -> bytes:
        self.calls += 1
        self.in_background.append(in_background())
        if self.gate is not None:
            await self.gate.wait()
        else:
            await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self.value

    async def fetch_many(self, keys: list[str]) -> Mapping[str, bytes]:
        self.calls += 1
        self.batches.append(list(keys))
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return {key: f'"{key}"'.encode() for key in keys if not key.startswith("missing")}


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[TieredCache]:
    async with TieredCache(memory=MemoryStore(clock=clock), clock=clock) as cache:
        yield cache


async def _until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    """Wait for background work to make ``condition`` true, failing after ``seconds``."""
    for _ in range(int(seconds / 0.001)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition still false after waiting")


def _held(cache: TieredCache, key: str) -> bytes | None:
    entry = cache.memory.peek("ns", key)
    return None if entry is None else entry.value


async def test_use_before_open_says_what_to_do(clock: FakeClock) -> None:
    cache = TieredCache(memory=MemoryStore(clock=clock), clock=clock)
    with pytest.raises(NotReadyError, match="open"):
        await cache.get("ns", "k", POLICY)


async def test_miss_fetches_then_memory_answers(cache: TieredCache) -> None:
    upstream = Upstream()
    first = await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    second = await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    assert (first.tier, second.tier) == (Tier.UPSTREAM, Tier.MEMORY)
    assert first.entry == second.entry
    assert first.entry.value == b'{"v":1}'
    assert upstream.calls == 1
    got = await cache.get("ns", "k", POLICY)
    assert got is not None
    assert got.tier is Tier.MEMORY
    assert cache.memory.peek("ns", "k") == first.entry


async def test_the_answering_tier_is_on_the_answer(cache: TieredCache) -> None:
    upstream = Upstream()
    assert (await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)).tier is Tier.UPSTREAM
    assert (await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)).tier is Tier.MEMORY


async def test_200_concurrent_cold_callers_fetch_once(cache: TieredCache) -> None:
    upstream = Upstream()
    results = await asyncio.gather(
        *(cache.get_or_fetch("ns", "hot", upstream.fetch, POLICY) for _ in range(200))
    )
    assert upstream.calls == 1
    assert len({result.entry for result in results}) == 1


async def test_stale_is_served_at_once_and_revalidated_in_background(
    cache: TieredCache, clock: FakeClock
) -> None:
    upstream = Upstream(b"old")
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    clock.advance(120)  # past fresh_for, within stale_for
    upstream.value = b"new"
    upstream.gate = asyncio.Event()  # the revalidation blocks until released

    answers = await asyncio.gather(
        *(cache.get_or_fetch("ns", "k", upstream.fetch, POLICY) for _ in range(10))
    )
    assert {(a.tier, a.entry.value) for a in answers} == {(Tier.STALE, b"old")}
    assert answers[0].age(clock()) == 120
    await _until(lambda: upstream.calls == 2)
    assert _held(cache, "k") == b"old"  # the revalidation waits at the gate

    upstream.gate.set()
    await _until(lambda: _held(cache, "k") == b"new")
    assert upstream.calls == 2  # one revalidation for ten stale reads
    fresh = await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    assert (fresh.tier, fresh.entry.value, fresh.age(clock())) == (Tier.MEMORY, b"new", 0)


async def test_background_revalidation_reports_to_no_request(
    cache: TieredCache, clock: FakeClock
) -> None:
    upstream = Upstream()
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    clock.advance(120)
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    await _until(lambda: upstream.calls == 2)
    # The foreground fetch counts for its request; the revalidation is marked as
    # background work, which per-request counters leave out.
    assert upstream.in_background == [False, True]
    assert not in_background()


async def test_get_revalidates_only_when_asked(cache: TieredCache, clock: FakeClock) -> None:
    upstream = Upstream()
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    clock.advance(120)
    plain = await cache.get("ns", "k", POLICY)
    assert plain is not None
    assert plain.tier is Tier.STALE
    await asyncio.sleep(0.05)
    assert upstream.calls == 1
    asked = await cache.get("ns", "k", POLICY, revalidate=upstream.fetch)
    assert asked is not None
    assert asked.tier is Tier.STALE
    await _until(lambda: upstream.calls == 2)


async def test_stale_if_error_keeps_serving_stale_until_expiry(
    cache: TieredCache, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    upstream = Upstream(b"old")
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    clock.advance(120)
    upstream.error = UpstreamError("horizons", "HTTP 503")
    with caplog.at_level(logging.WARNING, logger="cachefront.cache.engine"):
        for _ in range(3):
            answer = await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
            assert (answer.tier, answer.entry.value) == (Tier.STALE, b"old")
            await _until(lambda: cache._locks.in_flight == 0)
    assert upstream.calls == 4
    actions = [getattr(record, "action", None) for record in caplog.records]
    assert actions == ["cache.revalidate_failed"] * 3  # one line per failed revalidation

    clock.advance(600)  # past the stale window: nothing left to stand in
    with pytest.raises(UpstreamError):
        await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)


async def test_upstream_error_without_stale_reaches_every_caller(cache: TieredCache) -> None:
    upstream = Upstream()
    upstream.error = UpstreamError("horizons", "timeout")
    results = await asyncio.gather(
        *(cache.get_or_fetch("ns", "k", upstream.fetch, POLICY) for _ in range(20)),
        return_exceptions=True,
    )
    assert upstream.calls == 1
    assert all(isinstance(result, UpstreamError) for result in results)
    assert cache.memory.peek("ns", "k") is None


async def test_not_found_is_remembered_for_negative_for(
    cache: TieredCache, clock: FakeClock
) -> None:
    upstream = Upstream()
    upstream.error = NotFoundError("no body named 'vulcan'")
    for _ in range(3):
        with pytest.raises(NotFoundError, match="vulcan"):
            await cache.get_or_fetch("ns", "vulcan", upstream.fetch, POLICY)
    with pytest.raises(NotFoundError, match="vulcan"):
        await cache.get("ns", "vulcan", POLICY)
    assert upstream.calls == 1

    clock.advance(31)
    upstream.error = None
    answer = await cache.get_or_fetch("ns", "vulcan", upstream.fetch, POLICY)
    assert answer.tier is Tier.UPSTREAM
    assert upstream.calls == 2


async def test_get_many_fetches_all_misses_in_one_call(cache: TieredCache) -> None:
    upstream = Upstream()
    await cache.put_many("ns", {"a": b'"a"'}, POLICY)
    found = await cache.get_many_or_fetch(
        "ns", ["a", "b", "c", "missing-d", "b"], upstream.fetch_many, POLICY
    )
    assert upstream.batches == [["b", "c", "missing-d"]]
    assert list(found) == ["a", "b", "c"]  # the caller's order; not-found keys left out
    assert found["a"].tier is Tier.MEMORY
    assert found["b"].tier is Tier.UPSTREAM
    with pytest.raises(NotFoundError):
        await cache.get("ns", "missing-d", POLICY)

    again = await cache.get_many_or_fetch(
        "ns", ["a", "b", "c", "missing-d"], upstream.fetch_many, POLICY
    )
    assert upstream.calls == 1
    assert {cached.tier for cached in again.values()} == {Tier.MEMORY}


async def test_overlapping_batches_fetch_each_key_once(cache: TieredCache) -> None:
    upstream = Upstream()
    first, second = await asyncio.gather(
        cache.get_many_or_fetch("ns", ["a", "b", "c"], upstream.fetch_many, POLICY),
        cache.get_many_or_fetch("ns", ["b", "c", "d"], upstream.fetch_many, POLICY),
    )
    assert upstream.batches == [["a", "b", "c"], ["d"]]
    assert first["b"].entry == second["b"].entry


async def test_a_cancelled_caller_does_not_cancel_the_fill(cache: TieredCache) -> None:
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    leader = asyncio.create_task(cache.get_or_fetch("ns", "k", upstream.fetch, POLICY))
    await _until(lambda: upstream.calls == 1)
    follower = asyncio.create_task(cache.get_or_fetch("ns", "k", upstream.fetch, POLICY))
    await asyncio.sleep(0.01)
    leader.cancel()
    upstream.gate.set()
    answer = await follower
    assert answer.tier is Tier.UPSTREAM
    assert leader.cancelled()
    assert upstream.calls == 1


async def test_invalidate_by_key_prefix_and_namespace(cache: TieredCache) -> None:
    await cache.put_many("ns", {"mars:1": b"1", "mars:2": b"2", "venus:1": b"3"}, POLICY)
    await cache.put_many("other", {"mars:1": b"1"}, POLICY)
    assert await cache.invalidate("ns", "mars:1") == 1
    assert await cache.invalidate("ns", prefix="mars:") == 1
    assert await cache.get("ns", "venus:1", POLICY) is not None
    assert await cache.invalidate("ns") == 1
    assert await cache.get("ns", "venus:1", POLICY) is None
    assert await cache.get("other", "mars:1", POLICY) is not None
    with pytest.raises(ValueError, match="not both"):
        await cache.invalidate("ns", "k", prefix="p")


async def test_aclose_cancels_background_revalidations(clock: FakeClock) -> None:
    upstream = Upstream()
    cache = TieredCache(memory=MemoryStore(clock=clock), clock=clock)
    await cache.open()
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    clock.advance(120)
    upstream.gate = asyncio.Event()  # never set: the revalidation would hang forever
    await cache.get_or_fetch("ns", "k", upstream.fetch, POLICY)
    await _until(lambda: upstream.calls == 2)
    await asyncio.wait_for(cache.aclose(), 1)
    assert cache._locks.in_flight == 0
    with pytest.raises(NotReadyError):
        await cache.get("ns", "k", POLICY)


async def test_extra_keys_a_fetcher_returns_are_kept_too(cache: TieredCache) -> None:
    calls: list[list[str]] = []

    async def whole_window(keys: list[str]) -> Mapping[str, bytes]:
        calls.append(list(keys))
        return {f"h{i}": f'"{i}"'.encode() for i in range(24)}  # the whole window

    found = await cache.get_many_or_fetch("ns", ["h3", "h4"], whole_window, POLICY)
    assert set(found) == {"h3", "h4"}
    assert _held(cache, "h20") == b'"20"'
    later = await cache.get_many_or_fetch("ns", ["h20", "h21"], whole_window, POLICY)
    assert {c.tier for c in later.values()} == {Tier.MEMORY}
    assert calls == [["h3", "h4"]]


async def test_a_fetcher_can_store_its_answer_under_another_policy(
    cache: TieredCache, clock: FakeClock
) -> None:
    brief = CachePolicy(
        fresh_for=timedelta(seconds=5), stale_for=timedelta(seconds=600), tiers=("memory",)
    )

    async def fallback(keys: list[str]) -> Mapping[str, bytes]:
        return Fetched({key: b'"fallback"' for key in keys}, policy=brief)

    found = await cache.get_many_or_fetch("ns", ["k"], fallback, POLICY)
    entry = found["k"].entry
    assert entry.fresh_until - entry.stored_at == 5
    assert entry.expires_at - entry.stored_at == 5 + 600
