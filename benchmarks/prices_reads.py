"""Prices room figures in one process: batches, 10-year history, refresh load, backfill.

Runs the room as the app opens it (``running_services``: PostgreSQL, the tiered
cache, the platform's upstream clients and budgets) over the Binance and Yahoo
simulators over HTTP, with 500 crypto and 500 stock assets in a fresh database.

- batch: server time of ``PricesService.batch`` for 1,000 cached symbols (p50/p99);
- history: ``10y`` of one asset after a 10-year backfill, from the tables (cache
  forgotten before each read) and from the memory tier;
- refresh: provider requests per refresh, and per minute at the default 60 s, with
  New York open (a Tuesday 16:00 UTC) and closed (a Saturday);
- hit rate: of ``--reads`` single-price reads (Zipf over the 1,000 symbols) spread over
  five refresh intervals, and the provider requests in that time;
- over HTTP (``--http-rounds``): the same batch and 10-year history timed by a client
  of ``cachefront serve`` started on the same database and simulators;
- backfill: wall time, provider calls and 429s of ``--backfill N`` assets x 10 years
  (half crypto, half stocks), within the default budgets at background priority.

    python benchmarks/prices_reads.py [--rounds 300] [--reads 50000] [--backfill 100]
        [--http-rounds 300] [--yahoo-budget 1200/minute]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from harness import bench_database, cachefront

from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.keys import HISTORY_NAMESPACE
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.settings import PricesSettings
from cachefront.services.prices.simulators import RunningBinance, RunningYahoo

TUESDAY = datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()
SATURDAY = datetime(2026, 12, 5, 16, 0, tzinfo=UTC).timestamp()


def _names(count: int, width: int) -> list[str]:
    """``count`` distinct upper-case names of ``width`` letters (AAAA, AAAB, ...)."""
    out = []
    for n in range(count):
        name = ""
        for _ in range(width):
            n, r = divmod(n, 26)
            name = chr(65 + r) + name
        out.append(name)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _requests(stats: dict[str, Any]) -> int:
    return int(stats["requests"])


def _429s(stats: dict[str, Any]) -> int:
    return int(stats["by_status"].get("429", 0)) + int(stats["by_status"].get("418", 0))


async def run(
    args: argparse.Namespace, db: str, binance: RunningBinance, yahoo: RunningYahoo
) -> None:
    from cachefront.app import running_services

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db,
        redis_url=None,
        worker_in_process=False,
        binance_url=binance.base_url,
        yahoo_url=yahoo.base_url,
        yahoo_cookie_url=yahoo.base_url,
        ephemeris_providers=["local"],
        # The refresh figures run five "minutes" of the driven clock in a few seconds of
        # real time: Yahoo's default 120/minute would refuse what a real minute allows.
        yahoo_budget=args.yahoo_budget,
    )
    coins = [f"C{n}" for n in _names(500, 3)]
    stocks = [f"S{n}" for n in _names(500, 3)]
    async with running_services(settings) as services:
        service = services.get(PricesService)
        engine = create_engine(db, pool_size=1)
        await AssetStore(engine).upsert(
            [Asset(s, s, AssetType.CRYPTO, "binance", f"{s}USDT", "USD") for s in coins]
            + [Asset(s, s, AssetType.STOCK, "yahoo", s, "USD") for s in stocks]
        )
        await engine.dispose()
        service.catalog.invalidate()

        # --- refresh load -------------------------------------------------------------
        for label, at in (("open", TUESDAY), ("closed", SATURDAY)):
            service.clock = lambda at=at: at  # type: ignore[misc]
            await service.refresh()  # the first run also fetches Yahoo's crumb
            binance.reset()
            yahoo.reset()
            runs = 5
            for i in range(runs):
                service.clock = lambda at=at, i=i: at + 60 * (i + 1)  # type: ignore[misc]
                await service.refresh()
            per_run = (_requests(binance.stats()) + _requests(yahoo.stats())) / runs
            per_minute = per_run * 60 / service.refresh_seconds
            print(
                f"refresh, market {label}: {per_run:.1f} provider requests per refresh, "
                f"{per_minute:.1f}/min at {service.refresh_seconds:g} s "
                f"(binance {_requests(binance.stats()) / runs:.1f}, "
                f"yahoo {_requests(yahoo.stats()) / runs:.1f})"
            )
        service.clock = time.time

        # --- batch of 1,000 cached symbols ------------------------------------------------
        service.clock = lambda: TUESDAY + 400  # type: ignore[misc]
        await service.refresh()
        symbols = coins + stocks
        answer = await service.batch(symbols)
        assert answer.body.count(b'"symbol"') == 1000, answer.body[:300]
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            await service.batch(symbols)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"batch of 1,000 cached symbols, server time: p50 {statistics.median(times):.2f} ms, "
            f"p99 {_pct(times, 0.99):.2f} ms ({args.rounds} rounds, {len(answer.body):,} bytes)"
        )
        service.clock = time.time

        # --- hit rate of app reads under steady refresh ----------------------------------
        # Five driven "minutes": each starts with the periodic refresh, then app reads of
        # single prices whose symbols follow a Zipf law (a few popular, a long tail), as
        # portfolio apps ask. A read is a hit when a cache tier answered it.
        rng = random.Random(7)
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(symbols))]
        tiers: dict[str, int] = {}
        binance.reset()
        yahoo.reset()
        for minute in range(5):
            service.clock = lambda m=minute: TUESDAY + 600 + 60 * m  # type: ignore[misc]
            await service.refresh()
            for symbol in rng.choices(symbols, weights, k=args.reads // 5):
                tier = (await service.latest(symbol)).tier
                tiers[str(tier)] = tiers.get(str(tier), 0) + 1
        reads = sum(tiers.values())
        hits = reads - tiers.get("upstream", 0)
        calls = _requests(binance.stats()) + _requests(yahoo.stats())
        print(
            f"hit rate of {reads:,} app reads over 5 refresh intervals: {100 * hits / reads:.2f}% "
            f"(by tier {dict(sorted(tiers.items()))}); provider requests {calls} in all, "
            f"{calls / 5:.1f}/min, refreshes included"
        )
        service.clock = time.time

        # --- 10-year history ---------------------------------------------------------------
        report = await service.backfill([coins[0]], years=10)
        cold, warm = [], []
        for _ in range(args.rounds):
            await service.cache.invalidate(HISTORY_NAMESPACE)
            started = time.perf_counter()
            body = (await service.history(coins[0], "10y")).body
            cold.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await service.history(coins[0], "10y")
            warm.append((time.perf_counter() - started) * 1000)
        print(
            f"history 10y ({body.count(b'date')} monthly rows after {report.candles} daily "
            f"candles): from the tables p50 {statistics.median(cold):.2f} ms, "
            f"p99 {_pct(cold, 0.99):.2f} ms; memory hit p50 {statistics.median(warm):.3f} ms, "
            f"p99 {_pct(warm, 0.99):.3f} ms"
        )

        if args.http_rounds:
            await _over_http(args, db, settings, symbols, coins[0])

        # --- backfill ------------------------------------------------------------------------
        if args.backfill:
            half = args.backfill // 2
            chosen = coins[1 : 1 + half] + stocks[:half]
            binance.reset()
            yahoo.reset()
            started = time.perf_counter()
            report = await service.backfill(chosen, years=10)
            wall = time.perf_counter() - started
            b, y = binance.stats(), yahoo.stats()
            print(
                f"backfill {len(chosen)} assets x 10 years: {wall:.1f} s, {report.candles:,} "
                f"candles, provider calls binance {_requests(b)} yahoo {_requests(y)}, "
                f"429/418: {_429s(b) + _429s(y)}, failed: {len(report.failed)}"
            )


async def _over_http(
    args: argparse.Namespace, db: str, settings: Settings, symbols: list[str], one: str
) -> None:
    """The batch and 10-year history again, timed by a client of ``cachefront serve``.

    The server runs in its own process over the same database and simulators, with the
    route limits on (raised so that they count but never refuse); one keep-alive
    connection, requests one after another. A client's time holds what the in-process
    figures leave out: reading and validating the 1,000-symbol body, the gate, the
    limits, serialising and sending the answer, and the loopback.
    """
    env = {
        "CACHEFRONT_DATABASE_URL": db,
        "CACHEFRONT_MIGRATE_ON_START": "false",
        "CACHEFRONT_WORKER_IN_PROCESS": "false",
        "CACHEFRONT_BINANCE_URL": settings.room(PricesSettings).binance_url,
        "CACHEFRONT_YAHOO_URL": settings.room(PricesSettings).yahoo_url,
        "CACHEFRONT_YAHOO_COOKIE_URL": settings.room(PricesSettings).yahoo_cookie_url,
        "CACHEFRONT_YAHOO_BUDGET": args.yahoo_budget,
        "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
        "CACHEFRONT_RATE_LIMITS": json.dumps(
            {"general": "100000000/minute", "upstream": "100000000/minute"}
        ),
    }
    with cachefront(env) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            # The first batch fills the server's memory tier (its prices, stored by
            # the in-process runs on a driven clock, are old by the real one).
            first = await client.post("/v1/prices/batch", json={"symbols": symbols})
            assert first.status_code == 200, first.text[:300]
            assert first.json()["total"] == len(symbols), first.text[:300]
            times, tiers = [], Counter[str]()
            for _ in range(args.http_rounds):
                started = time.perf_counter()
                response = await client.post("/v1/prices/batch", json={"symbols": symbols})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text[:300]
                tiers[response.headers["x-cache"]] += 1
            print(
                f"over HTTP, batch of 1,000 cached symbols, client time: "
                f"p50 {statistics.median(times):.2f} ms, p99 {_pct(times, 0.99):.2f} ms "
                f"({args.http_rounds} rounds, X-Cache {dict(tiers)}, "
                f"{len(response.content):,} bytes)"
            )
            path = f"/v1/prices/{one}/history"
            warm = await client.get(path, params={"range": "10y"})
            assert warm.status_code == 200, warm.text[:300]
            times, tiers = [], Counter[str]()
            for _ in range(args.http_rounds):
                started = time.perf_counter()
                response = await client.get(path, params={"range": "10y"})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text[:300]
                tiers[response.headers["x-cache"]] += 1
            print(
                f"over HTTP, history 10y ({response.json()['count']} rows), client time: "
                f"p50 {statistics.median(times):.2f} ms, p99 {_pct(times, 0.99):.2f} ms "
                f"({args.http_rounds} rounds, X-Cache {dict(tiers)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--reads", type=int, default=50_000, help="app reads for the hit rate")
    parser.add_argument("--http-rounds", type=int, default=300, help="rounds over HTTP (0: skip)")
    parser.add_argument("--backfill", type=int, default=100, help="assets to backfill (0: skip)")
    parser.add_argument("--yahoo-budget", default="1200/minute", help="CACHEFRONT_YAHOO_BUDGET")
    args = parser.parse_args()
    coins = [f"C{n}USDT" for n in _names(500, 3)]
    with (
        RunningBinance(seed=1, symbols=coins) as binance,
        RunningYahoo(seed=1) as yahoo,
        bench_database() as db,
    ):
        asyncio.run(run(args, db, binance, yahoo))


if __name__ == "__main__":
    main()
