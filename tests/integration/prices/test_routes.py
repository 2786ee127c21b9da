"""The prices routes through a real server: PostgreSQL, Redis, simulators over HTTP.

A batch of cached, uncached and unknown symbols makes one call per provider (counted at
the simulators' ``/_stats``), unknown symbols are a 404 naming close matches, bad input
a 422 naming the field, answers carry ETags (304 on a match) and X-Cache, and the hot
path answers a memory hit.
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


@pytest.fixture(scope="module")
def binance() -> Iterator[RunningBinance]:
    with RunningBinance(seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def yahoo() -> Iterator[RunningYahoo]:
    with RunningYahoo(seed=7) as running:
        yield running


@pytest.fixture
def tag() -> str:
    """Letters unique to the test: symbols of the session's shared assets table never collide."""
    return "".join(random.choices(string.ascii_uppercase, k=4))


def crypto(symbol: str) -> Asset:
    return Asset(symbol, symbol, AssetType.CRYPTO, "binance", f"{symbol}USDT", "USD")


def stock(symbol: str) -> Asset:
    # On an exchange without a calendar: priced at any hour, so tests do not depend on it.
    return Asset(symbol, symbol, AssetType.STOCK, "yahoo", symbol, "USD", "NOCAL")


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
            "rate_limits": {"general": "100000/minute", "upstream": "100000/minute"},
            "worker_in_process": False,
            "prices_batch_max_symbols": 50,
        }
    )
    with ServerThread(settings) as running:
        yield running


def _calls(simulator: RunningBinance | RunningYahoo, path: str) -> int:
    by_path: dict[str, int] = simulator.stats()["by_path"]
    return sum(count for name, count in by_path.items() if name.startswith(path))


async def _add(engine: AsyncEngine, *assets: Asset) -> None:
    await AssetStore(engine).upsert(list(assets))


async def test_a_batch_makes_one_call_per_provider_for_its_misses(
    server: ServerThread,
    engine: AsyncEngine,
    binance: RunningBinance,
    yahoo: RunningYahoo,
    tag: str,
) -> None:
    coins = [crypto(f"{tag}{c}") for c in "ABC"]
    shares = [stock(f"{tag}{c}") for c in "D"] + [stock(f"{tag[:3]}E")]
    await _add(engine, *coins, *shares)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        # Cache one of each provider first (Yahoo's crumb is fetched on the way).
        for symbol in (coins[0].symbol, shares[0].symbol):
            assert (await client.get(f"/v1/prices/{symbol}")).status_code == 200
        binance.reset()
        yahoo.reset()
        wanted = [a.symbol for a in coins + shares] + [f"{tag}ZZ", coins[1].symbol.lower()]
        response = await client.post("/v1/prices/batch", json={"symbols": wanted})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert [p["symbol"] for p in body["prices"]] == [a.symbol for a in coins + shares]
    assert (body["cached"], body["fetched"], body["total"]) == (2, 3, 5)
    assert body["unknown"] == [f"{tag}ZZ"]
    assert all(p["price"] > 0 and p["stale"] is False for p in body["prices"])
    assert _calls(binance, TICKER) == 1
    assert _calls(yahoo, QUOTE) == 1
    assert binance.stats()["requests"] == 1


async def test_an_unknown_symbol_is_a_404_naming_close_matches(
    server: ServerThread, engine: AsyncEngine, tag: str
) -> None:
    await _add(engine, crypto(f"{tag}Q"))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get(f"/v1/prices/{tag}X")
        history = await client.get(f"/v1/prices/{tag}X/history", params={"range": "1y"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"{tag}Q" in response.json()["detail"]
    assert history.status_code == 404


async def test_bad_input_is_a_422_naming_the_field(
    server: ServerThread, engine: AsyncEngine, tag: str
) -> None:
    await _add(engine, crypto(f"{tag}R"))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        over = await client.post("/v1/prices/batch", json={"symbols": [f"S{i}" for i in range(51)]})
        over_get = await client.get(
            "/v1/prices", params={"symbols": ",".join(f"S{i}" for i in range(51))}
        )
        empty = await client.post("/v1/prices/batch", json={"symbols": []})
        bad_range = await client.get(f"/v1/prices/{tag}R/history", params={"range": "2w"})
    for response in (over, over_get, empty, bad_range):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert "symbols" in over.text
    assert "limit of 50" in over.text
    assert "symbols" in over_get.text
    assert "range" in bad_range.text
    assert "10y" in bad_range.text


async def test_answers_carry_etags_cache_headers_and_x_cache(
    server: ServerThread, engine: AsyncEngine, tag: str
) -> None:
    await _add(engine, crypto(f"{tag}A"), crypto(f"{tag}B"))
    symbols = f"{tag}A,{tag}B"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        first = await client.get(f"/v1/prices/{tag}A")
        hit = await client.get(f"/v1/prices/{tag}A")
        same = await client.get(
            f"/v1/prices/{tag}A", headers={"If-None-Match": hit.headers["etag"]}
        )
        listed = await client.get("/v1/prices", params={"symbols": symbols})
        relisted = await client.get(
            "/v1/prices",
            params={"symbols": symbols},
            headers={"If-None-Match": listed.headers["etag"]},
        )
    assert first.headers["x-cache"] == "upstream"
    assert hit.headers["x-cache"] == "memory"
    assert first.headers["etag"] == hit.headers["etag"]
    assert first.content == hit.content
    assert same.status_code == 304
    assert same.content == b""
    assert listed.status_code == 200
    assert listed.headers["cache-control"].startswith("public, max-age=")
    assert int(listed.headers["cache-control"].rsplit("=", 1)[1]) > 0
    assert relisted.status_code == 304


async def test_history_ranges_through_http(
    server: ServerThread, engine: AsyncEngine, binance: RunningBinance, tag: str
) -> None:
    await _add(engine, crypto(f"{tag}H"))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        hourly = await client.get(f"/v1/prices/{tag}H/history", params={"range": "1d"})
        again = await client.get(f"/v1/prices/{tag}H/history", params={"range": "1d"})
        stored = await client.get(f"/v1/prices/{tag}H/history", params={"range": "10y"})
    assert hourly.status_code == 200, hourly.text
    body = hourly.json()
    assert body["symbol"] == f"{tag}H"
    assert body["resolution"] == "1h"
    assert body["range"] == "1d"
    assert body["count"] == len(body["data"]) >= 23
    assert set(body["data"][0]) == {"date", "open", "high", "low", "close", "volume"}
    assert again.headers["x-cache"] == "memory"
    # Nothing is stored before a backfill: an empty monthly series, not an error.
    assert stored.status_code == 200
    assert stored.json()["resolution"] == "1mo"
    assert stored.json()["count"] == 0


async def test_a_batch_body_larger_than_the_header_limit_is_read_as_a_body(
    server: ServerThread,
) -> None:
    # 3,000 symbols: over 32 KiB, arriving with the headers in one chunk.
    symbols = [f"SYMBOL{i:05d}" for i in range(3000)]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.post("/v1/prices/batch", json={"symbols": symbols})
    assert response.status_code == 422, response.text
    assert "limit of 50" in response.json()["detail"]
