"""The simulated day on a cluster: nginx, 3 API processes, 2 job workers, PgBouncer, Redis.

The day of ``simulated_day.py`` (users opening the app, 8 requests an open) goes
through nginx running the block of docs/deploy.md in front of three ``cachefront
serve`` processes; two ``cachefront worker`` processes run the jobs; all share one
PostgreSQL database through a PgBouncer in transaction mode (the direct URL for what
needs a session) and one Redis. The first day warms the cache; halfway through the
second, measured day one API process is SIGKILLed and started again.

Then one heavy client, from an address of its own (127.0.0.2; nginx passes it in
X-Forwarded-For, and ``CACHEFRONT_TRUSTED_PROXIES=127.0.0.1`` makes it the client's
identity), sends ``--heavy`` quick requests of the ``general`` group, limited to
``--limit`` a minute and shared by the three processes through Redis leases: the
cluster must admit no more than the limit, and at least 90% of it. The day's users
use the ``upstream`` group, which stays unlimited, and their address is 127.0.0.1.

    python benchmarks/cluster.py [--users 1000] [--opens 7] [--concurrency 32]
        [--limit 300] [--heavy 1200]

Reports failed requests (target 0), upstream calls on the measured day (target 7,
one per body), the p50/p99 of request latency through nginx, and admitted vs limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from harness import DEFAULT_REDIS_URL, bench_database, free_port, simulator, simulator_requests
from simulated_day import BODIES, iso

REPO = Path(__file__).resolve().parents[1]
# The cluster tests' process helpers: the same PgBouncer, nginx block and API processes.
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration" / "cluster")]
from cluster_processes import ApiProcess, Nginx, PgBouncer, deploy_nginx_block  # noqa: E402

HUGE = "1000000000/minute"
# How long an API process may take to start: a shared, loaded machine is slow.
START_TIMEOUT = 180.0
# The heavy client's address: any of 127/8 reaches nginx on 127.0.0.1.
HEAVY_ADDRESS = "127.0.0.2"


async def one_open(client: httpx.AsyncClient, now: datetime, latencies: list[float]) -> int:
    failures = 0
    requests: list[tuple[str, dict[str, str]]] = [
        (f"/v1/ephemeris/{body}", {"at": iso(now)}) for body in BODIES
    ]
    requests.append(
        (
            "/v1/ephemeris",
            {
                "bodies": ",".join(BODIES),
                "start": iso(now),
                "stop": iso(now + timedelta(hours=48)),
                "step": "1h",
            },
        )
    )
    for path, params in requests:
        started = time.perf_counter()
        try:
            r = await client.get(path, params=params)
            failures += r.status_code != 200
        except httpx.HTTPError:
            failures += 1
        latencies.append(time.perf_counter() - started)
    return failures


async def simulate_day(
    base: str,
    day: datetime,
    users: int,
    opens: int,
    concurrency: int,
    latencies: list[float],
    midday: Callable[[], None] | None = None,
) -> int:
    rng = random.Random(day.toordinal())
    instants = sorted(day + timedelta(seconds=rng.uniform(0, 86400)) for _ in range(users * opens))
    failures = 0
    half = len(instants) // 2
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for i in range(0, len(instants), concurrency):
            batch = instants[i : i + concurrency]
            if midday is not None and i <= half < i + concurrency:
                # Off the event loop: the batch's requests run while the process dies.
                killing = asyncio.create_task(asyncio.to_thread(midday))
                failures += sum(
                    await asyncio.gather(*(one_open(client, t, latencies) for t in batch))
                )
                await killing
                continue
            failures += sum(await asyncio.gather(*(one_open(client, t, latencies) for t in batch)))
    return failures


async def heavy_client(base: str, requests: int, concurrency: int) -> tuple[int, int, int]:
    """``requests`` quick requests of the general group from HEAVY_ADDRESS, inside one
    minute window: (admitted, refused with 429, anything else)."""
    into = time.time() % 60
    if into > 30:  # the burst must not straddle a window's end
        await asyncio.sleep(60 - into + 0.5)
    transport = httpx.AsyncHTTPTransport(local_address=HEAVY_ADDRESS)
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=60) as client:
        for i in range(0, requests, concurrency):
            batch = range(i, min(i + concurrency, requests))
            answers = await asyncio.gather(
                *(client.get("/health") for _ in batch), return_exceptions=True
            )
            statuses += [a.status_code if isinstance(a, httpx.Response) else 0 for a in answers]
    admitted, refused = statuses.count(200), statuses.count(429)
    return admitted, refused, len(statuses) - admitted - refused


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[int(share * 100) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--opens", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", type=int, default=300, help="the heavy client's per minute")
    parser.add_argument("--heavy", type=int, default=1200, help="the heavy client's requests")
    args = parser.parse_args()
    limits = {"general": f"{args.limit}/minute", "upstream": HUGE, "jobs": HUGE}

    redis_url = os.environ.get("CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    day0 = datetime(2027, 3, 1, tzinfo=UTC)
    with simulator() as sim, bench_database() as db, PgBouncer(db, pool_size=40) as bouncer:
        env = {
            "CACHEFRONT_DATABASE_URL": bouncer.url_for(db),
            "CACHEFRONT_DATABASE_DIRECT_URL": db,
            "CACHEFRONT_REDIS_URL": redis_url,
            "CACHEFRONT_REDIS_PREFIX": f"bench{random.randrange(10**9)}",
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_RATE_LIMITS": json.dumps(limits),
            "CACHEFRONT_TRUSTED_PROXIES": "127.0.0.1",
            "CACHEFRONT_WORKER_IN_PROCESS": "false",
            "CACHEFRONT_LOG_LEVEL": "warning",
        }
        migrate = subprocess.run(
            [sys.executable, "-m", "cachefront", "migrate"],
            env={**os.environ, **env},
            capture_output=True,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr.decode()
        env["CACHEFRONT_MIGRATE_ON_START"] = "false"
        apis = [ApiProcess(env, free_port()) for _ in range(3)]
        # Closed with the process: read only when a worker does not stop in time.
        worker_logs = [tempfile.TemporaryFile() for _ in range(2)]  # noqa: SIM115
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "cachefront", "worker"],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for log in worker_logs
        ]
        nginx_port = free_port()
        try:
            for api in apis:
                api.start(timeout=START_TIMEOUT)
            with Nginx(deploy_nginx_block([a.port for a in apis], nginx_port), nginx_port) as nginx:
                warm: list[float] = []
                started = time.monotonic()
                warm_failures = asyncio.run(
                    simulate_day(nginx.url, day0, args.users, args.opens, args.concurrency, warm)
                )
                warm_calls = simulator_requests(sim)

                def kill_and_restart() -> None:
                    apis[1].stop(signal.SIGKILL)
                    apis[1].start(timeout=START_TIMEOUT)

                measured: list[float] = []
                failures = asyncio.run(
                    simulate_day(
                        nginx.url,
                        day0 + timedelta(days=1),
                        args.users,
                        args.opens,
                        args.concurrency,
                        measured,
                        midday=kill_and_restart,
                    )
                )
                day_calls = simulator_requests(sim) - warm_calls
                elapsed = time.monotonic() - started
                admitted, refused, other = asyncio.run(
                    heavy_client(nginx.url, args.heavy, args.concurrency)
                )
        finally:
            for api in apis:
                api.close()
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
                    log = worker_logs[workers.index(worker)]
                    log.seek(0)
                    print("a worker did not stop in 60 s:", log.read().decode()[-2000:])
    opens = args.users * args.opens
    print(
        f"{args.users} users x {args.opens} opens/day = {opens} opens/day, 8 requests each, "
        "through nginx over 3 API processes + 2 workers, PgBouncer (transaction mode), Redis"
    )
    print(f"warm-up day: {warm_calls} upstream calls ({warm_failures} failed requests)")
    print(
        f"measured day (one API process SIGKILLed and restarted midday): {day_calls} upstream "
        f"calls (target <= {len(BODIES)}); {failures} failed requests of {len(measured)} "
        "(target 0)"
    )
    print(
        f"latency through nginx, measured day: p50 {_percentile(measured, 0.50):.1f} ms, "
        f"p99 {_percentile(measured, 0.99):.1f} ms"
    )
    print(f"wall time for both days: {elapsed:.0f} s")
    print(
        f"heavy client, {args.heavy} quick requests within one minute: admitted "
        f"{admitted}/{args.limit} ({admitted / args.limit:.1%}; target 90-100%), "
        f"{refused} refused with 429, {other} other answers"
    )


if __name__ == "__main__":
    main()
