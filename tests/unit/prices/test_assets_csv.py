"""Parsing asset CSVs: free column order, upper-cased symbols, errors naming line and column."""

from __future__ import annotations

import pytest

from cachefront.services.prices.assets_csv import (
    AssetCsvError,
    load_starter_assets,
    parse_assets_csv,
)
from cachefront.services.prices.models import Asset, AssetType

HEADER = "symbol,name,type,provider,provider_id,currency"


def _problems(text: str) -> list[str]:
    with pytest.raises(AssetCsvError) as caught:
        parse_assets_csv(text)
    return caught.value.problems


def test_columns_in_any_order_with_optional_ones() -> None:
    text = (
        "currency,provider_id,active,provider,exchange,type,name,symbol\n"
        "usd,btcusdt,false,Binance,,crypto,Bitcoin,btc\n"
        'USD,AAPL,,yahoo,xnas,STOCK,"Apple, Inc.",aapl\n'
    )
    assert parse_assets_csv(text) == [
        Asset("BTC", "Bitcoin", AssetType.CRYPTO, "binance", "BTCUSDT", "USD", None, False),
        Asset("AAPL", "Apple, Inc.", AssetType.STOCK, "yahoo", "AAPL", "USD", "XNAS", True),
    ]


def test_blank_lines_and_a_byte_order_mark_are_fine() -> None:
    text = "\ufeff" + HEADER + "\n\nETH,Ether,crypto,binance,ETHUSDT,USD\n\n"
    assert [a.symbol for a in parse_assets_csv(text)] == ["ETH"]


def test_missing_and_unknown_columns_are_named_on_line_one() -> None:
    problems = _problems("symbol,name,kind,provider\nBTC,Bitcoin,crypto,binance\n")
    assert problems[0] == "line 1: missing required column(s) type, provider_id, currency"
    assert problems[1].startswith("line 1: unknown column(s) 'kind'")


def test_every_bad_cell_is_named_with_its_line_and_column() -> None:
    text = (
        HEADER + ",active\n"
        "BTC,Bitcoin,crypto,binance,BTCUSDT,USD,true\n"
        "ETH,,coin,binance,ETHUSDT,USD,maybe\n"
        "SOL,Solana,crypto,binance,SOLUSDT\n"
        "btc,Again,crypto,binance,BTCUSDT,USD,true\n"
        "BAD SYMBOL,X,fx,yahoo,X,USD,\n"
    )
    assert _problems(text) == [
        "line 3, column name: empty",
        "line 3, column type: 'coin' is not one of crypto, stock, etf, fx",
        "line 3, column active: 'maybe' is not true or false",
        "line 4: 5 fields where the header has 7",
        "line 5, column symbol: 'BTC' is already on line 2",
        "line 6, column symbol: 'BAD SYMBOL' must be 1 to 32 characters without spaces",
    ]


def test_an_empty_file_says_so() -> None:
    assert _problems("") == ["line 1: the file is empty; it needs a header row"]


def test_a_header_only_file_has_no_assets() -> None:
    assert parse_assets_csv(HEADER + "\n") == []


def test_the_starter_list_ships_inside_the_package() -> None:
    assets = load_starter_assets()
    by_symbol = {a.symbol: a for a in assets}
    assert by_symbol["BTC"].provider_id == "BTCUSDT"
    assert by_symbol["BTC"].provider == "binance"
    assert by_symbol["AAPL"].exchange == "XNAS"
    assert by_symbol["EURUSD"].provider_id == "EURUSD=X"
    kinds = [a.type for a in assets]
    assert kinds.count(AssetType.CRYPTO) >= 20
    assert kinds.count(AssetType.STOCK) + kinds.count(AssetType.ETF) >= 20
    assert all(a.exchange in {"XNYS", "XNAS"} for a in assets if a.type.follows_exchange_hours)
