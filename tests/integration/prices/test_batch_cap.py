"""The default batch cap over real HTTP: 1,000 symbols answered, 1,001 refused.

A server with the shipped settings (``CACHEFRONT_PRICES_BATCH_MAX_SYMBOLS`` 1,000,
``CACHEFRONT_MAX_HEADER_BYTES`` 32 KiB) against the simulators: a POST of exactly the
cap is priced with one call per provider for its misses, one more symbol is a 422
naming the limit, and the CDN-cacheable GET of the same 1,000 symbols, about 10 KB of
URL with the commas unescaped as clients send them, fits the server's header limit
(and the 16 KiB request line of the shipped nginx configuration).
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.simulators import RunningBinance, RunningYahoo
from harness_servers import ServerThread, server_settings

TICKER = "/api/v3/ticker/24hr"
QUOTE = "/v7/finance/quote"
CAP = 1000
# One Yahoo quote call carries 50 symbols (CACHEFRONT_YAHOO_BATCH_SIZE): the stocks of
# the batch fit in one, so each provider is called once for the misses.
STOCKS = 50
# Yahoo spellings: share classes, exchange suffixes, FX pairs.
_SUFFIXES = ("", "-B", ".NS", ".L", "=X")

TAG = "".join(random.choices(string.ascii_uppercase, k=3))


def _universe() -> tuple[list[Asset], list[Asset]]:
    """950 coins and 50 stocks, symbols unique to this module, of realistic lengths."""
    coins = [
        Asset(sym, sym, AssetType.CRYPTO, "binance", f"{sym}USDT", "USD")
        for sym in (f"{TAG}C{i:04d}" for i in range(CAP - STOCKS))
    ]
    # On an exchange without a calendar: priced at any hour.
    stocks = [
        Asset(sym, sym, AssetType.STOCK, "yahoo", sym, "USD", "NOCAL")
        for sym in (f"{TAG}S{i:03d}{_SUFFIXES[i % len(_SUFFIXES)]}" for i in range(STOCKS))
    ]
    return coins, stocks


COINS, STOCKS_LISTED = _universe()
SYMBOLS = [a.symbol for a in COINS + STOCKS_LISTED]


@pytest.fixture(scope="module")
def binance() -> Iterator[RunningBinance]:
    # The all-symbols ticker (asked for past 100 ids) lists the simulator's symbols.
    with RunningBinance(seed=11, symbols=[a.provider_id for a in COINS]) as running:
        yield running


@pytest.fixture(scope="module")
def yahoo() -> Iterator[RunningYahoo]:
    # Digits are outside the simulator's pattern of listed symbols: list them.
    with RunningYahoo(seed=11, symbols=[a.provider_id for a in STOCKS_LISTED]) as running:
        yield running


@pytest.fixture
def server(
    database_url: str, redis_url: str, binance: RunningBinance, yahoo: RunningYahoo
) -> Iterator[ServerThread]:
    binance.reset()
    yahoo.reset()
    settings = server_settings(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "binance_url": binance.base_url,
            "yahoo_url": yahoo.base_url,
            "yahoo_cookie_url": yahoo.base_url,
            # Route limits out of the way; the batch cap and the header limit are the defaults.
            "rate_limits": {"general": "100000/minute", "upstream": "100000/minute"},
            "worker_in_process": False,
            # Pricing 1,000 misses on a loaded machine may take longer than a user is
            # kept waiting (those answers tested elsewhere); here every price must come.
            "user_deadline_seconds": 30.0,
        }
    )
    assert settings.max_header_bytes == 32 * 1024
    with ServerThread(settings) as running:
        yield running


def _calls(simulator: RunningBinance | RunningYahoo, path: str) -> int:
    by_path: dict[str, int] = simulator.stats()["by_path"]
    return sum(count for name, count in by_path.items() if name.startswith(path))


async def test_a_batch_at_the_default_cap_is_answered_with_one_call_per_provider(
    server: ServerThread, engine: AsyncEngine, binance: RunningBinance, yahoo: RunningYahoo
) -> None:
    await AssetStore(engine).upsert(COINS + STOCKS_LISTED)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/v1/prices/batch", json={"symbols": SYMBOLS})
        over = await client.post("/v1/prices/batch", json={"symbols": [*SYMBOLS, f"{TAG}XTRA"]})
        # Raw commas, as a browser or a CDN-fronted client writes the list.
        url = "/v1/prices?symbols=" + ",".join(SYMBOLS)
        listed = await client.get(url)
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    assert len(SYMBOLS) == CAP
    assert (body["total"], body["fetched"], body["cached"]) == (CAP, CAP, 0)
    assert body["unknown"] == []
    assert body["failed"] == []
    assert [p["symbol"] for p in body["prices"]] == SYMBOLS
    assert _calls(binance, TICKER) == 1
    assert _calls(yahoo, QUOTE) == 1

    assert over.status_code == 422
    assert over.headers["content-type"].startswith("application/problem+json")
    assert "more than the limit of 1000" in over.json()["detail"]
    assert "symbols" in over.text

    # Several KB of URL, past nginx's default 8 KiB line buffer, within the shipped 16 KiB.
    assert 8 * 1024 < len(url) < 16 * 1024
    assert listed.status_code == 200, listed.text[:500]
    answered: dict[str, Any] = listed.json()
    assert (answered["total"], answered["cached"], answered["fetched"]) == (CAP, CAP, 0)
    assert listed.headers["cache-control"].startswith("public, max-age=")
    # The hits cost the providers nothing more.
    assert _calls(binance, TICKER) == 1
    assert _calls(yahoo, QUOTE) == 1
