"""The providers' limits hold under a burst of refreshes, batches and a backfill together.

The app runs as deployed: a real server over HTTP with its in-process worker (the
periodic refresh every 5 s and two ``prices-backfill`` jobs submitted through
``POST /v1/jobs``), its own PostgreSQL database, budgets shared through Redis. The
budgets are scaled down against simulators whose own limits are just above them:
Binance 270 weight a minute against 300, Yahoo 40 requests against 44. What everything
asks for together is well past the simulators' limits (the refresh alone asks for 80
weight every 5 s, the backfills for more than a minute's worth at both providers; with
the budgets lifted the same run is refused with 429s), and another client on the same
address spends Binance weight at each minute's start, which cachefront learns only
from ``X-MBX-USED-WEIGHT-1m``. Counted at the simulators: no 429 and no 418. Users'
batches are priced while the backfills run (background work keeps to its share), and
the backfills still store candles.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import string
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cachefront.db.engine import create_engine
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.simulators import RunningBinance, RunningYahoo
from harness_servers import ServerThread, server_settings
from jobs_harness import JWT_AUDIENCE, JWT_SECRET, create_database, drop_database, user_headers

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TICKER = "/api/v3/ticker/24hr"
KLINES = "/api/v3/klines"
BINANCE_LIMIT = 300
YAHOO_LIMIT = 44
# Another client's weight each minute: within its share of the address (300 - 270).
OUTSIDE_WEIGHT = 20
ROUNDS = 5

TAG = "".join(random.choices(string.ascii_uppercase, k=3))


def _coin(name: str) -> Asset:
    return Asset(name, name, AssetType.CRYPTO, "binance", f"{name}USDT", "USD")


def _stock(name: str) -> Asset:
    # On an exchange without a calendar: refreshed at any hour.
    return Asset(name, name, AssetType.STOCK, "yahoo", name, "USD", "NOCAL")


# Backfilled by two jobs at once: 40 coins (4 klines calls of weight 2 each for ten
# years: 320 weight, more than the simulator allows in a minute) and 50 stocks (a chart
# call each: more than Yahoo's 44 requests).
BACKFILL_COINS = [_coin(f"{TAG}BF{i:02d}") for i in range(40)]
BACKFILL_STOCKS = [_stock(f"{TAG}Q{chr(65 + i // 26)}{chr(65 + i % 26)}") for i in range(50)]
BACKFILLED = BACKFILL_COINS + BACKFILL_STOCKS
# Per round, new assets a user batch asks for first: 6 coins and 2 stocks.
ROUND_COINS = [[_coin(f"{TAG}R{r}{c}") for c in "ABCDEF"] for r in range(ROUNDS)]
ROUND_STOCKS = [[_stock(f"{TAG}Y{chr(65 + r)}{c}") for c in "AB"] for r in range(ROUNDS)]
# Priced by the refresh only. With them past 100 coins, each refresh asks for every
# symbol (weight 80), every 5 s: alone more than the simulator allows in a minute.
IDLE_COINS = [_coin(f"{TAG}I{i:02d}") for i in range(40)]
EVERY_COIN = BACKFILL_COINS + IDLE_COINS + [a for coins in ROUND_COINS for a in coins]
EVERY_STOCK = BACKFILL_STOCKS + [a for stocks in ROUND_STOCKS for a in stocks]
# Hourly histories on demand, at user priority: 8 a round of the backfilled coins
# (weight 2 each), and one of a stock (a chart call).
HISTORIES_PER_ROUND = 8


@pytest.fixture
def binance() -> Iterator[RunningBinance]:
    # Its all-symbols ticker lists every coin of the test.
    with RunningBinance(
        seed=5, rate_limit=BINANCE_LIMIT, symbols=[a.provider_id for a in EVERY_COIN]
    ) as running:
        yield running


@pytest.fixture
def yahoo() -> Iterator[RunningYahoo]:
    with RunningYahoo(
        seed=5, rate_limit=YAHOO_LIMIT, symbols=[a.provider_id for a in EVERY_STOCK]
    ) as running:
        yield running


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A database of this test's own: the refresh prices every active asset it holds."""
    url = create_database(database_url)
    try:
        yield url
    finally:
        drop_database(database_url, url)


@contextlib.asynccontextmanager
async def _assets(url: str) -> AsyncIterator[AssetStore]:
    engine = create_engine(url, pool_size=2)
    try:
        yield AssetStore(engine)
    finally:
        await engine.dispose()


async def _spend_outside(binance: RunningBinance, stop: asyncio.Event) -> int:
    """Another client on cachefront's address: weight at the start of every clock minute."""
    spent = 0
    minute = -1
    async with httpx.AsyncClient(base_url=binance.base_url, timeout=5) as client:
        while not stop.is_set():
            if int(time.time() // 60) != minute:
                minute = int(time.time() // 60)
                for _ in range(OUTSIDE_WEIGHT // 2):
                    params = {"symbol": EVERY_COIN[0].provider_id, "interval": "1d", "limit": "5"}
                    response = await client.get(KLINES, params=params)
                    assert response.status_code == 200, response.text
                    spent += 2
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    return spent


async def _submit_backfill(client: httpx.AsyncClient, assets: list[Asset]) -> str:
    """Where the ``prices-backfill`` job of ten years of ``assets`` is read."""
    response = await client.post(
        "/v1/jobs",
        json={
            "type": "prices-backfill",
            "params": {"years": 10, "symbols": [a.symbol for a in assets]},
        },
        headers=user_headers("operator"),
    )
    assert response.status_code == 202, response.text
    location: str = response.headers["Location"]
    return location


async def _priced_batch(client: httpx.AsyncClient, wanted: list[str]) -> dict[str, Any]:
    """The batch of ``wanted``, once the server's snapshot of the assets table has them.

    A symbol missing from the snapshot reloads it at most every 5 s, so assets added a
    moment ago may be unknown for that long; an all-unknown batch costs no provider call.
    """
    deadline = time.monotonic() + 15
    while True:
        response = await client.post("/v1/prices/batch", json={"symbols": wanted})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["unknown"] != wanted or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


def _calls(simulator: RunningBinance | RunningYahoo, path: str) -> int:
    by_path: dict[str, int] = simulator.stats()["by_path"]
    return sum(count for name, count in by_path.items() if name.startswith(path))


async def test_the_weight_budget_holds_under_refreshes_batches_and_a_backfill(
    own_database: str, redis_url: str, binance: RunningBinance, yahoo: RunningYahoo
) -> None:
    async with _assets(own_database) as assets:
        await assets.upsert(BACKFILLED + IDLE_COINS)
    settings = server_settings(
        {
            "database_url": own_database,
            "redis_url": redis_url,
            "binance_url": binance.base_url,
            "yahoo_url": yahoo.base_url,
            "yahoo_cookie_url": yahoo.base_url,
            "binance_budget": "270/minute",
            "binance_published_weight": BINANCE_LIMIT,
            "yahoo_budget": "40/minute",
            "prices_refresh_seconds": 5,
            "worker_in_process": True,
            "worker_concurrency": 3,
            # The backfill is still running at the end: stopping need not wait for it.
            "shutdown_timeout_seconds": 1.0,
            "jwt_secret": JWT_SECRET,
            "jwt_audience": JWT_AUDIENCE,
            "rate_limits": {
                "general": "100000/minute",
                "upstream": "100000/minute",
                "jobs": "100000/minute",
            },
            # Other rooms' periodic work stays out of the way.
            "precompute_schedule": "0 0 1 1 *",
            "cleanup_schedule": "0 0 1 1 *",
            "prune_metrics_schedule": "0 0 1 1 *",
        }
    )
    stop = asyncio.Event()
    outside = asyncio.create_task(_spend_outside(binance, stop))
    batches: list[dict[str, Any]] = []
    with ServerThread(settings) as server:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            _assets(own_database) as store,
        ):
            job_urls = [
                await _submit_backfill(client, BACKFILL_COINS),
                await _submit_backfill(client, BACKFILL_STOCKS),
            ]
            histories = iter(
                (coin.symbol, span) for coin in BACKFILL_COINS for span in ("1d", "7d")
            )
            for coins, stocks in zip(ROUND_COINS, ROUND_STOCKS, strict=True):
                # New assets: no refresh has priced them, so the batch's misses go out
                # at user priority, beside the backfill and the refresh.
                await store.upsert([*coins, *stocks])
                batches.append(await _priced_batch(client, [a.symbol for a in coins + stocks]))
                wanted = [
                    *itertools.islice(histories, HISTORIES_PER_ROUND),
                    (stocks[0].symbol, "1d"),
                ]
                for symbol, span in wanted:
                    history = await client.get(
                        f"/v1/prices/{symbol}/history", params={"range": span}
                    )
                    assert history.status_code == 200, history.text
                    assert history.json()["count"] > 0
                await asyncio.sleep(0.5)
            jobs = [
                (await client.get(url, headers=user_headers("operator"))).json() for url in job_urls
            ]
        stop.set()
        spent_outside = await outside
    engine = create_engine(own_database, pool_size=1)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM price_daily"))).scalar_one()
    finally:
        await engine.dispose()

    b_stats, y_stats = binance.stats(), yahoo.stats()
    # Nothing was refused: no 429, and so no 418 ban, at either provider.
    assert set(b_stats["by_status"]) == {"200"}, b_stats["by_status"]
    assert set(y_stats["by_status"]) == {"200"}, y_stats["by_status"]
    # The burst was real: more than a minute's budget was wanted at Binance, and the
    # other client's weight was spent where cachefront could only hear of it.
    assert spent_outside >= OUTSIDE_WEIGHT
    assert _calls(binance, KLINES) > 20
    assert _calls(binance, TICKER) > ROUNDS  # every batch, and refresh cycles
    # Every batch was priced, its misses fetched for the user, while the backfill ran.
    for body in batches:
        assert body["failed"] == [], body
        assert body["unknown"] == [], body
        assert (body["total"], body["fetched"]) == (8, 8), body
    # The backfills made progress within their share, and stored what they fetched.
    for job in jobs:
        assert job["status"] == "running", job
        assert 0 < job["progress"] < 1.0, job
    assert stored > 0
