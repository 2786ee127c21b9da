"""What one refresh of every latest price costs the providers, against the simulators.

A universe of crypto pairs on the Binance simulator and stocks on the Yahoo
simulator, refreshed the way the prices room does it: ``BinanceProvider.latest`` for
all pairs (one call) and ``YahooProvider.latest`` for all stocks (batches of
``--batch``). Reports calls and Binance weight per refresh (so calls per minute at a
60 s refresh), wall time per refresh (p50/p99 over ``--rounds``), and the time to
parse the all-symbols ticker answer.

    cd benchmarks && ../.venv/bin/python prices_providers.py [--crypto 500] [--stocks 500]

Target: under 30 provider requests a minute at a 60 s refresh (the seed design ~500).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Mapping

import httpx

from cachefront.services.prices.providers import BinanceProvider, YahooProvider
from cachefront.services.prices.providers.binance_format import parse_ticker_24hr
from cachefront.services.prices.simulators import RunningBinance, RunningYahoo
from cachefront.upstream import Priority


class Requester:
    """A plain httpx client counting calls and the cost they were charged."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.calls = 0
        self.cost = 0

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = "user",
        cost: int = 1,
    ) -> httpx.Response:
        self.calls += 1
        self.cost += cost
        return await self.client.request(method, url, params=params, headers=headers)


def stock_names(count: int) -> list[str]:
    return [
        f"{chr(65 + i // 676 % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(count)
    ]


async def run(args: argparse.Namespace) -> None:
    pairs = [f"P{index:04d}USDT" for index in range(args.crypto)]
    stocks = stock_names(args.stocks)
    with RunningBinance(symbols=pairs) as binance_sim, RunningYahoo() as yahoo_sim:
        async with httpx.AsyncClient(timeout=60.0) as client:
            binance_req, yahoo_req = Requester(client), Requester(client)
            binance = BinanceProvider(binance_req, binance_sim.base_url)
            yahoo = YahooProvider(yahoo_req, yahoo_sim.base_url, yahoo_sim.base_url, args.batch)
            # Warm the simulators' paths and the crumb; not counted.
            await binance.latest(pairs)
            await yahoo.latest(stocks)
            binance_req.calls = binance_req.cost = yahoo_req.calls = yahoo_req.cost = 0
            times = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                crypto, equity = await asyncio.gather(
                    binance.latest(pairs, priority="background"),
                    yahoo.latest(stocks, priority="background"),
                )
                times.append((time.perf_counter() - began) * 1000)
                assert len(crypto.quotes) == len(pairs)
                assert len(equity.quotes) == len(stocks)
            body = (await client.get(binance_sim.base_url + "/api/v3/ticker/24hr")).content
    began = time.perf_counter()
    for _ in range(20):
        parse_ticker_24hr(body)
    parse_ms = (time.perf_counter() - began) / 20 * 1000
    per_refresh = (binance_req.calls + yahoo_req.calls) / args.rounds
    times.sort()
    print(f"universe: {args.crypto} crypto pairs, {args.stocks} stocks, batch {args.batch}")
    print(
        f"per refresh: {binance_req.calls / args.rounds:.0f} Binance call(s), weight "
        f"{binance_req.cost / args.rounds:.0f}; {yahoo_req.calls / args.rounds:.0f} Yahoo calls"
    )
    print(f"provider requests per minute at a 60 s refresh: {per_refresh:.0f}")
    print(
        f"refresh wall time ms: p50 {statistics.median(times):.1f} "
        f"p99 {times[min(len(times) - 1, int(len(times) * 0.99))]:.1f}"
    )
    print(f"parse all-symbols ticker ({len(body) / 1e6:.2f} MB): {parse_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crypto", type=int, default=500)
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
