"""What one upstream call costs through the client's chain, by the budget it spends from.

One run starts the OpenAI simulator in its own process and, in this process, sends
sequential calls through ``UpstreamClient`` (breaker, retries, budget, network) built
five ways, alternating in rounds so all see the same machine:

- ``raw aiohttp``: the network library alone, the floor;
- ``no budget``: the chain without a budget;
- ``memory budget``: counted in process memory;
- ``redis exact``: counted in Redis, one round trip a call (a per-second budget, which
  is never leased);
- ``redis leased``: a per-minute budget in Redis, spending leased blocks.

Each round starts with a second of unmeasured calls (a lease is sized from the last
second's spend). Each row is the best round's CPU (this process's) and wall time per
call; the CPU figure is what a loaded machine distorts least.

    python benchmarks/upstream_chain.py [--calls 300] [--rounds 5] [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from harness import DEFAULT_REDIS_URL, simulator

from cachefront.redis_link import RedisLink
from cachefront.upstream import OutboundBudget, RetryPolicy, UpstreamClient

REQUEST = {
    "model": "sim-small",
    "temperature": 0.7,
    "messages": [{"role": "user", "content": "One line on caches."}],
}
BODY = json.dumps(REQUEST).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sim"}

Call = Callable[[], Awaitable[None]]


# Calls made before each measured round, unmeasured: a lease is sized from the last
# second's spend, so a path only reaches its steady state after a second of traffic.
LEAD_IN_SECONDS = 1.1


async def _round(call: Call, calls: int) -> tuple[float, float]:
    """CPU and wall microseconds per call over ``calls`` sequential calls, after a lead-in."""
    lead_in_until = time.perf_counter() + LEAD_IN_SECONDS
    while time.perf_counter() < lead_in_until:
        await call()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    return (
        (time.process_time() - cpu0) / calls * 1e6,
        (time.perf_counter() - wall0) / calls * 1e6,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()

    with simulator(name="openai") as base:
        url = f"{base}/v1/chat/completions"
        link = RedisLink(args.redis, prefix=f"bench-{uuid.uuid4().hex[:8]}", socket_timeout=2.0)
        session = aiohttp.ClientSession()

        async def raw() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()

        def client(name: str, budget: OutboundBudget | None) -> UpstreamClient:
            return UpstreamClient(name, retry=RetryPolicy(attempts=1), budget=budget)

        clients = {
            "no budget": client("none", None),
            "memory budget": client("memory", OutboundBudget("60000000/minute", name="memory")),
            "redis exact": client(
                "exact", OutboundBudget("1000000/second", name="exact", redis_link=link)
            ),
            "redis leased": client(
                "leased", OutboundBudget("60000000/minute", name="leased", redis_link=link)
            ),
        }
        for each in clients.values():
            await each.open()

        def through(each: UpstreamClient) -> Call:
            async def call() -> None:
                response = await each.request("POST", url, json=REQUEST, headers=HEADERS)
                response.raise_for_status()

            return call

        calls: dict[str, Call] = {"raw aiohttp": raw}
        calls.update({name: through(each) for name, each in clients.items()})
        best: dict[str, tuple[float, float]] = {}
        try:
            for call in calls.values():  # warm every path (and give leases a rate)
                await _round(call, args.calls)
            for _ in range(args.rounds):
                for name, call in calls.items():
                    cpu, wall = await _round(call, args.calls)
                    old = best.get(name)
                    best[name] = (
                        (cpu, wall) if old is None else (min(old[0], cpu), min(old[1], wall))
                    )
        finally:
            for each in clients.values():
                await each.aclose()
            await session.close()
            await link.aclose()

    print(
        f"| path ({args.calls} sequential calls, best of {args.rounds}) "
        "| CPU us/call | wall ms/call |"
    )
    print("|---|---:|---:|")
    for name, (cpu, wall) in best.items():
        print(f"| {name} | {cpu:.0f} | {wall / 1000:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
