"""MarketHours against the real exchange calendars: sessions, holidays, FX's week, crypto."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from service_fakes import crypto, stock

from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.models import Asset, AssetType


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
async def markets() -> MarketHours:
    hours = MarketHours()
    await hours.load(
        [stock("AAPL"), stock("SAP", exchange="XETR"), stock("ODD", exchange="NOPE")],
        now=_at("2026-11-20T00:00:00"),
    )
    return hours


EURUSD = Asset("EURUSD", "Euro", AssetType.FX, "yahoo", "EURUSD=X", "USD")


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        ("2026-12-01T15:00:00", True),  # a Tuesday, 10:00 in New York
        ("2026-12-01T14:29:00", False),  # before the 09:30 open
        ("2026-12-01T21:00:00", False),  # the 16:00 close
        ("2026-12-05T15:00:00", False),  # a Saturday
        ("2026-11-26T15:00:00", False),  # Thanksgiving
    ],
)
async def test_new_york_sessions(markets: MarketHours, instant: str, is_open: bool) -> None:
    assert markets.is_open(stock("AAPL"), _at(instant)) is is_open


async def test_next_open_and_the_last_close(markets: MarketHours) -> None:
    saturday = _at("2026-12-05T15:00:00")
    assert markets.next_open(stock("AAPL"), saturday) == _at("2026-12-07T14:30:00")
    assert markets.closed_since(stock("AAPL"), saturday) == _at("2026-12-04T21:00:00")
    assert markets.closed_since(stock("AAPL"), _at("2026-12-01T15:00:00")) is None


async def test_other_exchanges_follow_their_own_calendar(markets: MarketHours) -> None:
    # 08:30 UTC on a Tuesday: Frankfurt trades, New York does not yet.
    morning = _at("2026-12-01T08:30:00")
    assert markets.is_open(stock("SAP", exchange="XETR"), morning)
    assert not markets.is_open(stock("AAPL"), morning)


async def test_an_exchange_without_a_calendar_counts_as_always_open(markets: MarketHours) -> None:
    assert markets.is_open(stock("ODD", exchange="NOPE"), _at("2026-12-05T15:00:00"))


def test_crypto_never_closes_and_fx_closes_for_the_weekend() -> None:
    hours = MarketHours()
    saturday = _at("2026-12-05T15:00:00")
    assert hours.is_open(crypto("BTC"), saturday)
    assert not hours.is_open(EURUSD, saturday)
    assert hours.is_open(EURUSD, _at("2026-12-04T21:59:00"))  # Friday, before 22:00
    assert not hours.is_open(EURUSD, _at("2026-12-04T22:00:00"))
    assert hours.is_open(EURUSD, _at("2026-12-06T22:00:00"))  # Sunday 22:00: Sydney
    assert hours.next_open(EURUSD, saturday) == _at("2026-12-06T22:00:00")
    assert hours.closed_since(EURUSD, saturday) == _at("2026-12-04T22:00:00")
