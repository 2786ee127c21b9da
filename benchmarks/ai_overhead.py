"""Latency the AI gateway adds over calling an OpenAI-compatible provider directly.

One run starts the OpenAI simulator (``cachefront simulate openai``) and one
``cachefront serve`` process in front of it, then sends chat completions at a fixed
rate (open loop: requests leave on schedule whether or not earlier ones answered),
alternating rounds straight to the simulator and through the gateway, so both see
the same machine load. Requests are not repeatable (temperature 0.7), so each one
goes to the provider (``X-Cache: BYPASS``): what is measured is the gateway's own
work (gate, routing, provider call) on top of the provider's. Streams are measured
to the first ``data:`` line. Cache hits are shown for reference.

Quotas are on unless ``--no-quotas`` (limits far above what the run uses, so every call
takes and settles a hold); ``--redis URL`` gives the gateway a Redis, where the holds
then live (without it they are PostgreSQL's).

    python benchmarks/ai_overhead.py [--rate 200] [--seconds 5] [--rounds 3]
        [--no-quotas] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
from harness import (
    DEFAULT_REDIS_URL,
    SERVICE_KEY,
    ai_gateway_env,
    bench_database,
    cachefront,
    simulator,
)

HUGE = '{"general": "1000000000/minute", "ai": "1000000000/minute"}'
MESSAGES = [{"role": "user", "content": "Summarise the benefits of a cache in one line."}]


def _session() -> aiohttp.ClientSession:
    # aiohttp, not httpx: the load generator shares the machine with what it measures,
    # and spends a fifth of httpx's CPU a request.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=400), timeout=aiohttp.ClientTimeout(total=30)
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def open_loop(
    rate: float, seconds: float, call: Callable[[int], Awaitable[float]]
) -> list[float]:
    """Start ``call(i)`` at ``rate`` per second for ``seconds``; the latencies in ms.

    The load generator's own collector is kept out of the figures: with every task of a
    round alive until its end, a full collection here paused this process for ~100 ms,
    which showed up as the p99 of whatever it was measuring."""
    total = int(rate * seconds)
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        start = time.perf_counter()
        tasks = []
        for index in range(total):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(call(index)))
        return list(await asyncio.gather(*tasks))
    finally:
        gc.enable()
        gc.unfreeze()


def plain_call(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> Callable[[int], Awaitable[float]]:
    async def call(index: int) -> float:
        body = {"model": "sim-small", "messages": MESSAGES, "temperature": 0.7, "seed": index}
        started = time.perf_counter()
        async with client.post(url, json=body, headers=headers) as response:
            text = await response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, text
        return elapsed

    return call


def first_byte_call(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> Callable[[int], Awaitable[float]]:
    async def call(index: int) -> float:
        body = {
            "model": "sim-small",
            "messages": MESSAGES,
            "temperature": 0.7,
            "seed": index,
            "stream": True,
        }
        started = time.perf_counter()
        async with client.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            elapsed = 0.0
            async for line in response.content:
                if not elapsed and line.startswith(b"data: "):
                    elapsed = (time.perf_counter() - started) * 1000
        return elapsed

    return call


async def compare(
    rate: float,
    seconds: float,
    rounds: int,
    make: Callable[[aiohttp.ClientSession, str, dict[str, str]], Callable[[int], Awaitable[float]]],
    direct: str,
    gateway: str,
) -> tuple[list[float], list[float]]:
    auth = {"Authorization": f"Bearer {SERVICE_KEY}"}
    measured: dict[str, list[float]] = {"direct": [], "gateway": []}
    targets = (("direct", direct, {}), ("gateway", gateway, auth))
    for _ in range(rounds):
        for name, url, headers in targets:
            # A client of its own per turn, warmed just before: connections left idle
            # through the other target's turn would meet the server's keep-alive
            # timeout (5 s, a round's length) just as they are reused.
            async with _session() as client:
                await open_loop(rate, 1, make(client, url, headers))
                measured[name] += await open_loop(rate, seconds, make(client, url, headers))
    return measured["direct"], measured["gateway"]


async def hits(gateway: str, count: int) -> list[float]:
    auth = {"Authorization": f"Bearer {SERVICE_KEY}"}
    body = {"model": "sim-small", "messages": MESSAGES, "temperature": 0}
    latencies = []
    async with _session() as client:
        async with client.post(gateway, json=body, headers=auth) as response:
            await response.read()
        for _ in range(count):
            started = time.perf_counter()
            async with client.post(gateway, json=body, headers=auth) as response:
                await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.headers["x-cache"] == "HIT"
    return latencies


def row(name: str, direct: list[float], gateway: list[float]) -> str:
    d50, d99 = percentile(direct, 0.5), percentile(direct, 0.99)
    g50, g99 = percentile(gateway, 0.5), percentile(gateway, 0.99)
    return (
        f"| {name} | {len(gateway)} | {d50:.2f} | {g50:.2f} | {g50 - d50:+.2f} "
        f"| {d99:.2f} | {g99:.2f} | {g99 - d99:+.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream-rate", type=float, default=50.0)
    parser.add_argument("--no-quotas", action="store_true", help="no limits: no hold at all")
    parser.add_argument(
        "--redis", nargs="?", const=DEFAULT_REDIS_URL, default=None, help="a Redis URL"
    )
    args = parser.parse_args()
    with simulator(name="openai") as sim, bench_database() as db:
        env = ai_gateway_env(sim, db, rate_limits=HUGE)
        if not args.no_quotas:
            env["CACHEFRONT_AI_DAILY_TOKENS"] = str(10**12)
            env["CACHEFRONT_AI_REQUESTS_PER_MINUTE"] = str(10**9)
        if args.redis:
            env["CACHEFRONT_REDIS_URL"] = args.redis
            env["CACHEFRONT_REDIS_PREFIX"] = f"aibench{sim.rsplit(':', 1)[1]}"
        with cachefront(env) as base:
            direct = sim + "/v1/chat/completions"
            gateway = base + "/v1/chat/completions"
            plain = asyncio.run(
                compare(args.rate, args.seconds, args.rounds, plain_call, direct, gateway)
            )
            streams = asyncio.run(
                compare(
                    args.stream_rate, args.seconds, args.rounds, first_byte_call, direct, gateway
                )
            )
            cached = asyncio.run(hits(gateway, 500))
    print(
        f"python benchmarks/ai_overhead.py --rate {args.rate:g} --seconds {args.seconds:g} "
        f"--rounds {args.rounds} --stream-rate {args.stream_rate:g}"
        + (" --no-quotas" if args.no_quotas else "")
        + (f" --redis {args.redis}" if args.redis else "")
    )
    print(
        "| measure | requests | direct p50 ms | gateway p50 ms | added p50 | direct p99 ms "
        "| gateway p99 ms | added p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(row(f"chat completion at {args.rate:g}/s (BYPASS)", *plain))
    print(row(f"stream, first byte at {args.stream_rate:g}/s (BYPASS)", *streams))
    print(
        f"\ncache hit, sequential: p50 {statistics.median(cached):.2f} ms, "
        f"p99 {percentile(cached, 0.99):.2f} ms"
    )


if __name__ == "__main__":
    main()
