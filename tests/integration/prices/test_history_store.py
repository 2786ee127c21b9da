"""The history tables over real PostgreSQL: rollups, rewrites, partitions, retention, roles.

Tests that run retention work in an era of their own (the 1930s, the 1950s) and pass a
``today`` of that era, so the rows they drop are theirs alone; every other test writes
in this century.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from history_helpers import at, days, monthly, new_asset, walk, weekly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import install_isolation
from cachefront.db.engine import create_engine
from cachefront.services.prices.history import PRICE_TABLES, HistoryStore
from cachefront.services.prices.history_partitions import partition_years
from cachefront.services.prices.models import Candle, Resolution

FAR = date(2200, 12, 31)


def _store(engine: AsyncEngine, *, keep_all_daily: bool = False) -> HistoryStore:
    return HistoryStore(
        engine, keep_daily_days=365, keep_weekly_days=3 * 365, keep_all_daily=keep_all_daily
    )


@pytest.fixture
async def app_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine whose connections run as the app role, as the server's do."""
    engine = create_engine(database_url, pool_size=2)
    install_isolation(engine, "cachefront_app")
    yield engine
    await engine.dispose()


async def _years(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return await partition_years(conn)


# --- rollups -----------------------------------------------------------------------------
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    span=st.integers(1, 120),
    keep=st.floats(0.3, 1.0),
    chunks=st.integers(1, 4),
    rewrites=st.integers(0, 10),
)
def test_rollups_equal_a_direct_computation(
    database_url: str, seed: int, span: int, keep: float, chunks: int, rewrites: int
) -> None:
    """Random days (gaps like weekends and holidays), written in chunks in random order,
    some rewritten with new values: the stored weeks and months are what Python makes of
    the last value of every day."""
    rng = random.Random(seed)
    start = date(2001, 1, 1) + timedelta(days=rng.randrange(3 * 365))
    chosen = [d for d in days(start, start + timedelta(days=span)) if rng.random() < keep]
    chosen = chosen or [start]
    bars = walk(chosen, seed, adjusted=rng.random() < 0.5)
    order = bars[:]
    rng.shuffle(order)
    parts = [order[i::chunks] for i in range(chunks)]
    changed = [
        dataclasses.replace(b, close=round(b.close + 1, 2), high=round(b.high + 2, 2), volume=7.0)
        for b in rng.sample(bars, min(rewrites, len(bars)))
    ]
    final = {b.start: b for b in bars} | {b.start: b for b in changed}

    async def run() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            store = _store(engine)
            asset = await new_asset(engine)
            for part in parts:
                await store.write_daily(asset, part)
            if changed:
                await store.write_daily(asset, changed)
            expected = sorted(final.values(), key=lambda b: b.start)
            assert await store.read(asset, Resolution.DAY, None, FAR) == expected
            assert await store.read(asset, Resolution.WEEK, None, FAR) == weekly(expected)
            assert await store.read(asset, Resolution.MONTH, None, FAR) == monthly(expected)
        finally:
            await engine.dispose()

    asyncio.run(run())


async def test_a_rewritten_bar_updates_its_week_and_month(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    june = walk(days(date(2012, 6, 1), date(2012, 6, 30)), 1)
    assert await store.write_daily(asset, june) == 30
    # Today's live bar fetched again: higher high, new close, more volume.
    last = june[-1]
    live = dataclasses.replace(last, high=last.high + 100, close=last.close + 50, volume=1e9)
    assert await store.write_daily(asset, [live]) == 1
    bars = [*june[:-1], live]
    assert await store.read(asset, Resolution.MONTH, date(2012, 6, 1), date(2012, 6, 30)) == (
        monthly(bars)
    )
    week_of_live = date(2012, 6, 25)
    got = await store.read(asset, Resolution.WEEK, week_of_live, week_of_live)
    assert got == [w for w in weekly(bars) if w.start == at(week_of_live)]
    assert got[0].high == live.high
    assert got[0].close == live.close


async def test_reads_are_bounded_by_start_and_end(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    bars = walk(days(date(2013, 1, 1), date(2013, 12, 31)), 2)
    await store.write_daily(asset, bars)
    got = await store.read(asset, Resolution.DAY, date(2013, 3, 1), date(2013, 3, 31))
    assert [c.start for c in got] == [at(d) for d in days(date(2013, 3, 1), date(2013, 3, 31))]
    months = await store.read(asset, Resolution.MONTH, date(2013, 2, 1), date(2013, 4, 1))
    assert [m.start.month for m in months] == [2, 3, 4]
    with pytest.raises(ValueError, match="1h candles are not stored"):
        await store.read(asset, Resolution.HOUR, None, FAR)


async def test_bad_bars_are_refused_before_anything_is_written(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    good = walk([date(2014, 1, 2)], 3)[0]
    with pytest.raises(ValueError, match="2014-01-03 has a value that is not a finite number"):
        await store.write_daily(
            asset, [good, dataclasses.replace(good, start=at(date(2014, 1, 3)), high=float("nan"))]
        )
    with pytest.raises(ValueError, match="negative"):
        await store.write_daily(asset, [dataclasses.replace(good, volume=-1)])
    assert await store.stored_span(asset) is None
    assert await store.write_daily(asset, []) == 0


# --- what is stored ----------------------------------------------------------------------
async def test_stored_span_and_missing_ranges(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    assert await store.stored_span(asset) is None
    assert await store.missing(asset, date(2010, 1, 1), date(2010, 2, 1)) == [
        (date(2010, 1, 1), date(2010, 2, 1))
    ]
    await store.write_daily(asset, walk(days(date(2010, 1, 4), date(2010, 3, 31)), 4))
    await store.write_daily(asset, walk(days(date(2010, 6, 1), date(2010, 6, 30)), 5))
    assert await store.stored_span(asset) == (date(2010, 1, 4), date(2010, 6, 30))
    assert await store.missing(asset, date(2009, 12, 1), date(2010, 8, 1)) == [
        (date(2009, 12, 1), date(2010, 1, 4)),
        (date(2010, 4, 1), date(2010, 6, 1)),
        (date(2010, 7, 1), date(2010, 8, 1)),
    ]
    assert await store.missing(asset, date(2010, 2, 1), date(2010, 3, 15)) == []


# --- partitions --------------------------------------------------------------------------
async def test_a_write_in_a_new_year_creates_its_partition(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    assert 2091 not in await _years(engine)
    bar = walk([date(2091, 7, 1)], 6)
    assert await store.write_daily(asset, bar) == 1
    assert 2091 in await _years(engine)
    assert await store.read(asset, Resolution.DAY, date(2091, 1, 1), date(2091, 12, 31)) == bar


async def test_ensure_partitions_makes_missing_years_once(engine: AsyncEngine) -> None:
    store = _store(engine)
    made = await store.ensure_partitions(2095)
    assert set(range(date.today().year, 2096)) <= await _years(engine)
    assert "price_partitions.price_daily_2095" in made or 2095 in await _years(engine)
    assert await store.ensure_partitions(2095) == []


async def test_concurrent_ensure_partitions_all_succeed(database_url: str) -> None:
    """Four sessions race to make the same years, by writes and by the periodic call."""
    engines = [create_engine(database_url, pool_size=1) for _ in range(4)]
    try:
        assets = [await new_asset(e) for e in engines]
        writes = await asyncio.gather(
            *(
                _store(e).write_daily(a, walk([date(2140, 1, 1)], a))
                for e, a in zip(engines, assets, strict=True)
            )
        )
        assert writes == [1, 1, 1, 1]
        made = await asyncio.gather(*(_store(e).ensure_partitions(2160) for e in engines))
        names = [name for batch in made for name in batch]
        # Each year made by exactly one of the racers, none failing.
        assert len(names) == len(set(names))
        assert set(range(date.today().year, 2161)) <= await _years(engines[0])
        assert 2140 in await _years(engines[0])
    finally:
        for e in engines:
            await e.dispose()


async def test_the_app_role_cannot_do_ddl_but_partitions_still_get_made(
    app_engine: AsyncEngine,
) -> None:
    async with app_engine.connect() as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar() == "cachefront_app"
    with pytest.raises(ProgrammingError) as caught:
        async with app_engine.begin() as conn:
            await conn.execute(text("CREATE TABLE price_sneaky (x int)"))
    assert isinstance(caught.value.orig, InsufficientPrivilege)
    with pytest.raises(ProgrammingError) as caught:
        async with app_engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE price_partitions.price_daily_2199 PARTITION OF price_daily "
                    "FOR VALUES FROM ('2199-01-01') TO ('2200-01-01')"
                )
            )
    assert isinstance(caught.value.orig, InsufficientPrivilege)
    # Through the store the DDL runs as the login role, and the connection is the app's again.
    store = _store(app_engine)
    asset = await new_asset(app_engine)
    bars = walk([date(2197, 3, 1)], 8)
    assert await store.write_daily(asset, bars) == 1
    assert await store.read(asset, Resolution.DAY, None, FAR) == bars
    async with app_engine.connect() as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar() == "cachefront_app"
    with pytest.raises(ProgrammingError):
        async with app_engine.begin() as conn:
            await conn.execute(text("DROP TABLE price_partitions.price_daily_2197"))


# --- retention ---------------------------------------------------------------------------
def _totals(months: list[Candle]) -> list[tuple[object, ...]]:
    return [(m.start, m.open, m.close, m.high, m.low, m.volume) for m in months]


async def test_retention_drops_old_days_and_keeps_every_total(app_engine: AsyncEngine) -> None:
    """Runs as the app role, as the periodic task does: the partition drops and the
    rewrite of the emptied tables switch to the login role on their own."""
    store = _store(app_engine)
    assets = [await new_asset(app_engine) for _ in range(2)]
    history = {a: walk(days(date(1955, 1, 1), date(1960, 9, 30)), a, adjusted=True) for a in assets}
    for asset, bars in history.items():
        await store.write_daily(asset, bars)
    months_before = {a: await store.read(a, Resolution.MONTH, None, FAR) for a in assets}
    assert {a: _totals(m) for a, m in months_before.items()} == {
        a: _totals(monthly(b)) for a, b in history.items()
    }

    today = date(1960, 10, 1)
    counts = await store.apply_retention(today)

    # 365 days back is 1959-10-02, moved back to the Monday of its week: 1959-09-28.
    assert counts.daily_cutoff == date(1959, 9, 28)
    assert counts.partitions_dropped == [
        f"price_partitions.price_daily_{y}" for y in range(1955, 1959)
    ]
    years = await _years(app_engine)
    assert not years & {1955, 1956, 1957, 1958}
    assert 1959 in years
    kept_days = days(date(1959, 9, 28), date(1960, 9, 30))
    for asset, bars in history.items():
        daily = await store.read(asset, Resolution.DAY, None, FAR)
        assert [c.start for c in daily] == [at(d) for d in kept_days]
        # The months, kept forever, hold what they held: every volume, first and last.
        assert await store.read(asset, Resolution.MONTH, None, FAR) == months_before[asset]
        total = sum(m.volume for m in await store.read(asset, Resolution.MONTH, None, FAR))
        assert total == sum(b.volume for b in bars)
        weeks = await store.read(asset, Resolution.WEEK, None, FAR)
        assert weeks[0].start >= at(counts.weekly_cutoff)
        assert weeks == [w for w in weekly(bars) if w.start >= at(counts.weekly_cutoff)]
    assert counts.daily_rows_deleted == 2 * len(days(date(1955, 1, 1), date(1959, 9, 27)))
    # Most of 1959 went by DELETE: the partition was rewritten to what it still holds.
    assert counts.compacted == ["price_partitions.price_daily_1959"]

    # A month whose days are gone is sealed: a day it has seen changes nothing, a day it
    # has not seen is folded in.
    asset, bars = assets[0], history[assets[0]]
    march = next(m for m in months_before[asset] if m.start == at(date(1957, 3, 1)))
    again = dataclasses.replace(bars[800], volume=123456.0, high=99999.0)
    assert again.start.date().month == 3
    assert again.start.year == 1957
    await store.write_daily(asset, [again])
    got = await store.read(asset, Resolution.MONTH, date(1957, 3, 1), date(1957, 3, 1))
    assert got == [march]

    # That late day went to a daily partition and a week made again on the way; the next
    # pass drops just those, and the months still hold what they held.
    second = await store.apply_retention(today)
    assert second.partitions_dropped == ["price_partitions.price_daily_1957"]
    assert (second.daily_rows_deleted, second.weekly_rows_deleted) == (1, 1)
    assert await store.read(asset, Resolution.MONTH, None, FAR) == months_before[asset]
    third = await store.apply_retention(today)
    assert (third.partitions_dropped, third.daily_rows_deleted, third.weekly_rows_deleted) == (
        [],
        0,
        0,
    )


async def test_a_sealed_month_takes_days_it_never_saw(engine: AsyncEngine) -> None:
    store = _store(engine)
    asset = await new_asset(engine)
    first_half = walk(days(date(1947, 3, 1), date(1947, 3, 15)), 9)
    later = walk(days(date(1947, 3, 16), date(1947, 3, 31)), 10)
    await store.write_daily(asset, first_half)
    await store.write_daily(asset, walk(days(date(1948, 1, 1), date(1948, 1, 5)), 11))
    await store.apply_retention(date(1948, 6, 1))
    assert await store.read(asset, Resolution.DAY, date(1947, 1, 1), date(1947, 12, 31)) == []
    # The rest of March arrives after its first half was dropped (a backfill resumed).
    await store.write_daily(asset, later)
    await store.write_daily(asset, later[:3])  # and part of it once more
    got = await store.read(asset, Resolution.MONTH, date(1947, 3, 1), date(1947, 3, 1))
    assert got == monthly([*first_half, *later])


async def test_keep_all_daily_drops_no_day(engine: AsyncEngine) -> None:
    store = _store(engine, keep_all_daily=True)
    asset = await new_asset(engine)
    bars = walk(days(date(1931, 1, 1), date(1935, 12, 31)), 12)
    await store.write_daily(asset, bars)
    counts = await store.apply_retention(date(1936, 1, 1))
    assert (counts.daily_cutoff, counts.daily_rows_deleted, counts.partitions_dropped) == (
        None,
        0,
        [],
    )
    assert await store.read(asset, Resolution.DAY, None, FAR) == bars
    assert {1931, 1932, 1933, 1934, 1935} <= await _years(engine)
    weeks = await store.read(asset, Resolution.WEEK, None, FAR)
    assert weeks == [w for w in weekly(bars) if w.start >= at(counts.weekly_cutoff)]


async def test_sizes_name_every_prices_table(engine: AsyncEngine) -> None:
    store = _store(engine)
    await store.write_daily(
        await new_asset(engine), walk(days(date(2015, 1, 1), date(2015, 3, 1)), 13)
    )
    sizes = await store.sizes()
    assert list(sizes) == list(PRICE_TABLES)
    assert all(size > 0 for size in sizes.values()), sizes
