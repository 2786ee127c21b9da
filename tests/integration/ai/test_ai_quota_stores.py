"""The quota stores and the ledger writer against real Redis and PostgreSQL: holds atomic
under concurrency, a new day's counter seeded from the ledger, settles never below zero,
and ledger rows written in batches that survive a database refusal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.db.engine import create_engine
from cachefront.services.ai.ledger_writer import LedgerRow, LedgerWriter
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.quota import QuotaGate, QuotaLimits, used_on_day
from cachefront.services.ai.quota_redis import RedisCounters, Seed
from cachefront.services.ai.usage import CallUsage


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


Opened = Callable[[Redis, str, Seed], RedisCounters]


@pytest.fixture
async def open_counters() -> AsyncIterator[Opened]:
    """RedisCounters closed after the test, which sends the settles still waiting."""
    opened: list[RedisCounters] = []

    def make(client: Redis, prefix: str, seed: Seed) -> RedisCounters:
        opened.append(RedisCounters(client, prefix=prefix, ns="ai", seed=seed))
        return opened[-1]

    yield make
    for counters in opened:
        await counters.aclose()


def _row(owner: str, tokens: int, *, cached: bool = False) -> LedgerRow:
    return LedgerRow(owner, datetime.now(UTC), "p", "m", tokens, 0, 1.0, 0.0, 0.0, cached, True)


async def _ledger_rows(engine: AsyncEngine, owner: str) -> int:
    with acting_as_service():
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM ai_usage WHERE owner = :o"), {"o": owner}
            )
            return int(found.scalar_one())


async def test_concurrent_holds_never_pass_the_limit(
    redis_client: Redis, redis_prefix: str, open_counters: Opened
) -> None:
    async def nothing_used(owner: str, day: object) -> int:
        return 0

    counters = open_counters(redis_client, redis_prefix, nothing_used)
    owner = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    held = await asyncio.gather(*(counters.hold(owner, now, 7, 100, 2**62) for _ in range(50)))
    assert sum(h.admitted for h in held) == 100 // 7
    assert max(h.day_tokens for h in held) == 7 * (100 // 7)
    # Settling gives back what a call did not use, and never counts below zero.
    await counters.settle(owner, now.date(), 7, 2)
    assert (await counters.read(owner, now))[0] == 7 * (100 // 7) - 5
    await counters.settle(owner, now.date(), 10_000, 0)
    assert (await counters.read(owner, now))[0] == 0


async def test_requests_per_minute_are_counted_in_redis(
    redis_client: Redis, redis_prefix: str, open_counters: Opened
) -> None:
    async def nothing_used(owner: str, day: object) -> int:
        return 0

    counters = open_counters(redis_client, redis_prefix, nothing_used)
    owner = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    held = [await counters.hold(owner, now, 1, 2**62, 3) for _ in range(5)]
    assert [h.admitted for h in held] == [True, True, True, False, False]
    assert held[-1].minute_requests == 3


async def test_a_new_day_starts_from_what_the_ledger_says_was_used(
    engine: AsyncEngine, redis_client: Redis, redis_prefix: str, open_counters: Opened
) -> None:
    owner = f"u-{uuid.uuid4().hex[:8]}"
    writer = LedgerWriter(engine)
    writer.add(_row(owner, 60))
    writer.add(_row(owner, 500, cached=True))  # a hit used nothing
    await writer.flush()
    today = datetime.now(UTC).date()
    assert await used_on_day(engine, owner, today) == 60

    async def from_ledger(who: str, day: object) -> int:
        with acting_as_service():
            return await used_on_day(engine, who, today)

    counters = open_counters(redis_client, redis_prefix, from_ledger)
    held = await counters.hold(owner, datetime.now(UTC), 30, 100, 2**62)
    assert held.admitted
    assert held.day_tokens == 90
    refused = await counters.hold(owner, datetime.now(UTC), 30, 100, 2**62)
    assert not refused.admitted
    assert refused.day_tokens == 90


async def test_the_gate_settles_in_the_store_that_held_and_batches_the_ledger(
    engine: AsyncEngine, redis_client: Redis, redis_prefix: str, open_counters: Opened
) -> None:
    async def nothing_used(owner: str, day: object) -> int:
        return 0

    counters = open_counters(redis_client, redis_prefix, nothing_used)
    gate = QuotaGate(engine, QuotaLimits(daily_tokens=1000), PriceTable({}), shared=counters)
    owner = f"u-{uuid.uuid4().hex[:8]}"
    with acting_as_service():
        reservations = [await gate.reserve(owner, "p", "m", 100) for _ in range(3)]
        assert {r.counter for r in reservations} == {"redis"}
        assert reservations[-1].state is not None
        assert reservations[-1].state.day_tokens == 300
        for reservation in reservations:
            await gate.settle(reservation, CallUsage(10, 20, 5.0, True))
        assert (await gate.counters_of(owner, datetime.now(UTC)))[0] == 90
        # Nothing written yet: the rows wait for the batch.
        assert await _ledger_rows(engine, owner) == 0
        assert len(gate.ledger) == 3
        await gate.ledger.flush()
        assert await _ledger_rows(engine, owner) == 3


async def test_rows_the_database_refused_wait_for_the_next_flush(
    database_url: str, engine: AsyncEngine
) -> None:
    owner = f"u-{uuid.uuid4().hex[:8]}"
    nowhere = make_url(database_url).set(host="127.0.0.1", port=9)
    gone = create_engine(nowhere.render_as_string(hide_password=False), pool_size=1)
    writer = LedgerWriter(gone)
    writer.add(_row(owner, 1))
    writer.add(_row(owner, 2))
    assert await writer.flush() == 0
    assert len(writer) == 2
    await gone.dispose()
    writer.engine = engine
    writer.add(_row(owner, 3))
    assert await writer.flush() == 3
    assert await _ledger_rows(engine, owner) == 3


async def test_closing_writes_what_is_left(engine: AsyncEngine) -> None:
    owner = f"u-{uuid.uuid4().hex[:8]}"
    writer = LedgerWriter(engine, flush_seconds=3600)
    for tokens in range(5):
        writer.add(_row(owner, tokens))
    await writer.aclose()
    assert await _ledger_rows(engine, owner) == 5


async def test_the_first_calls_of_a_day_read_the_ledger_once(
    redis_client: Redis, redis_prefix: str, open_counters: Opened
) -> None:
    reads: list[str] = []

    async def counted(owner: str, day: object) -> int:
        reads.append(owner)
        await asyncio.sleep(0.05)
        return 10

    counters = open_counters(redis_client, redis_prefix, counted)
    owner = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    held = await asyncio.gather(*(counters.hold(owner, now, 1, 100, 2**62) for _ in range(20)))
    assert reads == [owner]
    assert all(h.admitted for h in held)
    assert max(h.day_tokens for h in held) == 30
