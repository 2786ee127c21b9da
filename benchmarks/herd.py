"""Thundering herd: 1,000 concurrent cold requests over 7 bodies; how many upstream calls?

    python benchmarks/herd.py [--workers 2] [--no-redis]

Target: 7 (one per body), however many worker processes answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import httpx
from harness import DEFAULT_REDIS_URL, bench_database, cachefront, simulator, simulator_requests

BODIES = ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn"]


async def herd(base: str, at: str, requests: int) -> list[int]:
    limits = httpx.Limits(max_connections=requests)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        bodies = [BODIES[i % len(BODIES)] for i in range(requests)]
        random.shuffle(bodies)
        responses = await asyncio.gather(
            *(client.get(f"/v1/ephemeris/{b}", params={"at": at}) for b in bodies)
        )
    return [r.status_code for r in responses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=2000, help="simulated Horizons delay")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    redis_url = (
        None if args.no_redis else os.environ.get("CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    with simulator(latency_ms=args.latency_ms) as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_REDIS_PREFIX": f"bench{random.randrange(10**9)}",
        }
        if redis_url:
            env["CACHEFRONT_REDIS_URL"] = redis_url
        with cachefront(env, workers=args.workers) as base:
            started = time.monotonic()
            statuses = asyncio.run(herd(base, "2027-01-01T00:00:00Z", args.requests))
            elapsed = time.monotonic() - started
            calls = simulator_requests(sim)
    ok = sum(1 for s in statuses if s == 200)
    print(
        f"{args.requests} concurrent cold requests over {len(BODIES)} bodies, "
        f"{args.workers} worker(s), Redis {'on' if redis_url else 'off'}, "
        f"Horizons latency {args.latency_ms:.0f} ms"
    )
    print(f"200 OK: {ok}/{len(statuses)}; wall time {elapsed:.2f} s")
    print(f"upstream calls: {calls} (target {len(BODIES)})")


if __name__ == "__main__":
    main()
