"""The assets table over real PostgreSQL: upsert counts, look-ups, close matches, availability."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.prices.assets import AssetStore, UpsertCounts
from cachefront.services.prices.assets_csv import load_starter_assets
from cachefront.services.prices.models import Asset, AssetType


@pytest.fixture
def store(engine: AsyncEngine) -> AssetStore:
    return AssetStore(engine)


@pytest.fixture
def tag() -> str:
    """A prefix unique to the test, so tests sharing the session's database never collide."""
    return "T" + uuid.uuid4().hex[:6].upper()


def _crypto(symbol: str, provider_id: str | None = None) -> Asset:
    return Asset(
        symbol, f"{symbol} coin", AssetType.CRYPTO, "binance", provider_id or symbol + "USDT", "USD"
    )


async def test_upsert_counts_inserted_updated_unchanged(store: AssetStore, tag: str) -> None:
    a, b, c = _crypto(f"{tag}A"), _crypto(f"{tag}B"), _crypto(f"{tag}C")
    assert await store.upsert([a, b]) == UpsertCounts(inserted=2, updated=0, unchanged=0)
    renamed = dataclasses.replace(b, name="renamed")
    assert await store.upsert([a, renamed, c]) == UpsertCounts(inserted=1, updated=1, unchanged=1)
    assert await store.get(b.symbol) == renamed
    assert await store.upsert([a, renamed, c]) == UpsertCounts(0, 0, 3)


async def test_symbols_are_upper_cased_and_found_in_any_case(store: AssetStore, tag: str) -> None:
    lower = dataclasses.replace(_crypto(f"{tag}X"), symbol=f"{tag}x".lower())
    await store.upsert([lower])
    assert (await store.get(f"{tag}X".lower())) == dataclasses.replace(lower, symbol=f"{tag}X")


async def test_a_symbol_twice_in_one_upsert_is_refused(store: AssetStore, tag: str) -> None:
    with pytest.raises(ValueError, match=f"symbols given twice: {tag}D"):
        await store.upsert([_crypto(f"{tag}D"), _crypto(f"{tag}d".lower())])


async def test_by_symbols_finds_a_thousand_in_one_query(store: AssetStore, tag: str) -> None:
    assets = [_crypto(f"{tag}{i:04d}") for i in range(1000)]
    await store.upsert(assets)
    wanted = [a.symbol for a in assets[::2]] + [f"{tag}NOPE"]
    found = await store.by_symbols(wanted)
    assert sorted(found) == sorted(a.symbol for a in assets[::2])
    assert found[assets[10].symbol] == assets[10]
    ids = await store.ids([assets[0].symbol, assets[1].symbol])
    assert len(set(ids.values())) == 2


async def test_list_and_active_only(store: AssetStore, tag: str) -> None:
    on, off = _crypto(f"{tag}ON"), dataclasses.replace(_crypto(f"{tag}OFF"), active=False)
    await store.upsert([on, off])
    every = {a.symbol for a in await store.list()}
    active = {a.symbol for a in await store.list(active_only=True)}
    assert {on.symbol, off.symbol} <= every
    assert on.symbol in active
    assert off.symbol not in active


async def test_close_matches_suggest_near_symbols(store: AssetStore, tag: str) -> None:
    await store.upsert([_crypto(f"{tag}BTC"), _crypto(f"{tag}BTCB"), _crypto(f"{tag}ETH")])
    matches = await store.close_matches(f"{tag}BTX")
    assert matches[0] == f"{tag}BTC"
    assert f"{tag}ETH" not in matches[:2]
    assert len(await store.close_matches(f"{tag}B", limit=2)) <= 2


async def test_unavailable_assets_leave_the_refresh_until_reimported_elsewhere(
    store: AssetStore, tag: str
) -> None:
    gone = _crypto(f"{tag}GONE", f"{tag}GONEUSDT")
    await store.upsert([gone, _crypto(f"{tag}OK")])
    assert await store.mark_unavailable("binance", f"{tag}GONEUSDT".lower()) == [gone.symbol]
    available = {s.asset.symbol for s in (await store.by_provider())["binance"]}
    assert gone.symbol not in available
    assert f"{tag}OK" in available
    stored = (await store.stored_by_symbols([gone.symbol]))[gone.symbol]
    assert not stored.available
    # Re-imported unchanged, it stays unavailable; pointed at another pair, it is back.
    await store.upsert([gone])
    assert not (await store.stored_by_symbols([gone.symbol]))[gone.symbol].available
    await store.upsert([dataclasses.replace(gone, provider_id=f"{tag}GONEBUSD")])
    assert (await store.stored_by_symbols([gone.symbol]))[gone.symbol].available


async def test_the_starter_list_imports_and_reimports_unchanged(store: AssetStore) -> None:
    starter = load_starter_assets()
    first = await store.upsert(starter)
    assert first.inserted + first.updated + first.unchanged == len(starter)
    assert await store.upsert(starter) == UpsertCounts(0, 0, len(starter))
    assert (await store.get("BTC")) == next(a for a in starter if a.symbol == "BTC")
