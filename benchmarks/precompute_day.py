"""Share of user requests answered without waiting on upstream in a day, precompute on/off.

Simulated time, as in simulated_day.py: users open the app at random instants of one
day; each open asks for the 7 bodies now and for the table of the next 48 hours.
Requests name their instants, so the day runs in minutes. With precompute on, the real
``precompute-ephemeris`` task is deferred for each simulated hour (its timestamp is the
hour) and run by the servers' workers before that hour's traffic, as the hourly
schedule would. Both runs start from a cold cache (a fresh benchmark database).

A request "waited on upstream" when its ``X-Cache`` is ``upstream``. Requests that
joined another's upstream call in flight (single-flight) are answered from memory once
it lands, so the run also counts requests slower than half the upstream delay.

    cd benchmarks && ../.venv/bin/python precompute_day.py [--users 500] [--latency-ms 1000]

Target: at least 99% of requests answered without an upstream wait with precompute on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby

import httpx
import psycopg
from harness import bench_database, cachefront, simulator, simulator_requests
from procrastinate import App

from cachefront.config import Settings
from cachefront.jobs.queue import build_queue_app, libpq_url
from cachefront.jobs.schedule import default_registry
from cachefront.services.ephemeris.tasks import PRECOMPUTE_TASK

BODIES = ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn"]
DAY = datetime(2027, 3, 1, tzinfo=UTC)
HUGE = json.dumps({"general": "100000000/minute", "upstream": "100000000/minute"})
# The real schedule would also fire on the wall clock; keep it out of a simulated day.
NEVER = "0 0 1 1 *"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Tally:
    tiers: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    waited_ms: list[float] = field(default_factory=list)
    failures: int = 0
    slow_after_ms: float = 500.0
    slow: int = 0
    precompute_calls: int = 0
    precompute_seconds: float = 0.0

    def add(self, response: httpx.Response, elapsed_ms: float) -> None:
        tier = response.headers.get("x-cache", "none")
        self.tiers[tier] += 1
        self.latencies_ms.append(elapsed_ms)
        if tier == "upstream":
            self.waited_ms.append(elapsed_ms)
        self.slow += elapsed_ms >= self.slow_after_ms
        self.failures += response.status_code != 200

    @property
    def requests(self) -> int:
        return sum(self.tiers.values())

    @property
    def no_wait_share(self) -> float:
        return 1 - self.tiers["upstream"] / max(1, self.requests)


async def _get(client: httpx.AsyncClient, tally: Tally, path: str, params: dict[str, str]) -> None:
    started = time.perf_counter()
    response = await client.get(path, params=params)
    tally.add(response, (time.perf_counter() - started) * 1000)


async def one_open(client: httpx.AsyncClient, now: datetime, tally: Tally) -> None:
    for body in BODIES:
        await _get(client, tally, f"/v1/ephemeris/{body}", {"at": iso(now)})
    table = {
        "bodies": ",".join(BODIES),
        "start": iso(now),
        "stop": iso(now + timedelta(hours=48)),
        "step": "1h",
    }
    await _get(client, tally, "/v1/ephemeris", table)


async def _precompute_hour(queue: App, db: str, hour: datetime) -> None:
    """Defer the real periodic task for ``hour`` and wait until a worker has run it."""
    job_id = await queue.configure_task(PRECOMPUTE_TASK).defer_async(
        timestamp=int(hour.timestamp())
    )
    async with await psycopg.AsyncConnection.connect(libpq_url(db), autocommit=True) as conn:
        while True:
            cursor = await conn.execute(
                "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
            )
            row = await cursor.fetchone()
            if row and row[0] in ("succeeded", "failed"):
                if row[0] != "succeeded":
                    raise RuntimeError(f"precompute for {hour} failed")
                return
            await asyncio.sleep(0.02)


async def simulate_day(
    base: str,
    db: str,
    sim: str,
    args: argparse.Namespace,
    precompute: bool,
) -> Tally:
    rng = random.Random(DAY.toordinal())
    count = args.users * args.opens
    instants = sorted(DAY + timedelta(seconds=rng.uniform(0, 86400)) for _ in range(count))
    tally = Tally(slow_after_ms=args.latency_ms / 2)
    settings = Settings(_env_file=None, database_url=db)  # type: ignore[call-arg]
    queue = build_queue_app(settings, db, default_registry(settings))
    async with queue.open_async(), httpx.AsyncClient(base_url=base, timeout=120) as client:
        for hour, group in groupby(
            instants, key=lambda t: t.replace(minute=0, second=0, microsecond=0)
        ):
            if precompute:
                calls, started = simulator_requests(sim), time.perf_counter()
                await _precompute_hour(queue, db, hour)
                tally.precompute_seconds += time.perf_counter() - started
                tally.precompute_calls += simulator_requests(sim) - calls
            in_hour = list(group)
            # Opens go out in time order, `concurrency` at a time, like a day's traffic.
            for i in range(0, len(in_hour), args.concurrency):
                batch = in_hour[i : i + args.concurrency]
                await asyncio.gather(*(one_open(client, t, tally) for t in batch))
    return tally


def run(args: argparse.Namespace, precompute: bool) -> tuple[Tally, int, float]:
    with simulator(latency_ms=args.latency_ms) as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_RATE_LIMITS": HUGE,
            "CACHEFRONT_PRECOMPUTE_SCHEDULE": NEVER,
        }
        with cachefront(env, workers=args.workers) as base:
            started = time.monotonic()
            tally = asyncio.run(simulate_day(base, db, sim, args, precompute))
            elapsed = time.monotonic() - started
            calls = simulator_requests(sim)
    return tally, calls, elapsed


def report(name: str, tally: Tally, calls: int, elapsed: float) -> None:
    lat = sorted(tally.latencies_ms)
    waited = tally.tiers["upstream"]
    print(
        f"precompute {name}: {tally.requests} requests, {waited} waited on upstream, "
        f"{tally.no_wait_share:.2%} without an upstream wait; tiers {dict(tally.tiers)}; "
        f"{tally.failures} failed"
    )
    print(
        f"  {tally.slow} requests took {tally.slow_after_ms:.0f} ms or more "
        f"({1 - tally.slow / max(1, tally.requests):.2%} faster)"
    )
    print(
        f"  latency p50 {statistics.median(lat):.1f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.1f} "
        f"ms, max {lat[-1]:.0f} ms; waiting requests p50 "
        f"{statistics.median(tally.waited_ms) if tally.waited_ms else 0:.0f} ms"
    )
    print(
        f"  upstream calls {calls} ({tally.precompute_calls} by precompute, "
        f"{tally.precompute_seconds:.1f} s in precompute runs); wall {elapsed:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--opens", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=1000, help="simulated Horizons delay")
    args = parser.parse_args()
    print(
        f"{args.users} users x {args.opens} opens = {args.users * args.opens} opens, "
        f"8 requests each; Horizons simulator answers after {args.latency_ms:.0f} ms",
        flush=True,
    )
    for name, precompute in (("off", False), ("on", True)):
        report(name, *run(args, precompute))


if __name__ == "__main__":
    main()
