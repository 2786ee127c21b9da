"""A simulated day of app users against the Horizons simulator: upstream calls per day.

1,000 users each open the app ~7 times a day; each open asks for the 7 bodies now and
for the table of the next 48 hours. Time is simulated (requests name their instants),
so a day runs in minutes. The first simulated day warms the cache; the second is
measured.

    python benchmarks/simulated_day.py [--users 1000] [--opens 7] [--concurrency 32]

Target: at most one upstream call per body per day once warm (7), against 7,000 a day
when every open calls Horizons directly.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
from harness import bench_database, cachefront, simulator, simulator_requests

BODIES = ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn"]


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


async def one_open(client: httpx.AsyncClient, now: datetime) -> int:
    failures = 0
    for body in BODIES:
        r = await client.get(f"/v1/ephemeris/{body}", params={"at": iso(now)})
        failures += r.status_code != 200
    r = await client.get(
        "/v1/ephemeris",
        params={
            "bodies": ",".join(BODIES),
            "start": iso(now),
            "stop": iso(now + timedelta(hours=48)),
            "step": "1h",
        },
    )
    failures += r.status_code != 200
    return failures


async def simulate_day(base: str, day: datetime, users: int, opens: int, concurrency: int) -> int:
    rng = random.Random(day.toordinal())
    instants = sorted(day + timedelta(seconds=rng.uniform(0, 86400)) for _ in range(users * opens))
    failures = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        # Opens go out in time order, `concurrency` at a time, like a day's traffic.
        for i in range(0, len(instants), concurrency):
            batch = instants[i : i + concurrency]
            failures += sum(await asyncio.gather(*(one_open(client, t) for t in batch)))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--opens", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    day0 = datetime(2027, 3, 1, tzinfo=UTC)
    with simulator() as sim, bench_database() as db:
        env = {"CACHEFRONT_DATABASE_URL": db, "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api"}
        with cachefront(env, workers=args.workers) as base:
            started = time.monotonic()
            warm_failures = asyncio.run(
                simulate_day(base, day0, args.users, args.opens, args.concurrency)
            )
            warm_calls = simulator_requests(sim)
            failures = asyncio.run(
                simulate_day(
                    base, day0 + timedelta(days=1), args.users, args.opens, args.concurrency
                )
            )
            day_calls = simulator_requests(sim) - warm_calls
            elapsed = time.monotonic() - started
    opens = args.users * args.opens
    print(f"{args.users} users x {args.opens} opens/day = {opens} opens/day, 8 requests each")
    print(f"warm-up day: {warm_calls} upstream calls ({warm_failures} failed requests)")
    print(
        f"measured day: {day_calls} upstream calls ({failures} failed requests); "
        f"direct calling would make {opens}; target <= {len(BODIES)}"
    )
    print(f"wall time for both days: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
