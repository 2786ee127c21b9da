"""Added latency of authentication + inbound limits on a memory hit, memory vs Redis counting.

One run measures GET /v1/ephemeris/{body} (a memory hit, the hot path) four ways, each
against its own single-worker server: without the gate; with the gate, an API key and
limits counted in memory; the same with limits counted in Redis; and anonymous with
Redis. wrk -c1 gives the per-request latency (p50), -c16 the throughput.

    python benchmarks/auth_overhead.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import httpx
from harness import (
    DEFAULT_REDIS_URL,
    bench_database,
    cachefront,
    free_port,
    process,
    simulator,
    wait_http,
    wrk,
)

HUGE = '{"general": "1000000000/minute", "upstream": "1000000000/minute"}'


def make_key(db: str) -> str:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cachefront.auth import KeyManager, Role
    from cachefront.db.engine import create_engine

    async def main() -> str:
        engine: AsyncEngine = create_engine(db, pool_size=1)
        try:
            key, _ = await KeyManager(engine).create("bench", Role.USER)
            return key
        finally:
            await engine.dispose()

    return asyncio.run(main())


def measure(url: str, seconds: int, headers: dict[str, str]) -> tuple[float, float, float]:
    for _ in range(50):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 200, response.text
    assert httpx.get(url, headers=headers).headers["x-cache"] == "memory"
    latency = wrk(url, connections=1, threads=1, seconds=seconds, headers=headers)
    load = wrk(url, connections=16, threads=2, seconds=seconds, headers=headers)
    return latency.p50_ms, latency.p99_ms, load.requests_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    redis_url = os.environ.get("CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    rows: list[tuple[str, tuple[float, float, float]]] = []
    path = "/v1/ephemeris/mars?at=2026-11-24T12:00:00Z"
    with simulator() as sim, bench_database() as db:
        base_env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_RATE_LIMITS": HUGE,
            "CACHEFRONT_WORKER_IN_PROCESS": "false",
        }
        with cachefront(base_env) as base:  # migrates the bench database
            httpx.get(base + "/health")
        key = make_key(db)
        auth = {"Authorization": f"Bearer {key}"}

        port = free_port()
        ungated = [sys.executable, "-m", "uvicorn", "auth_apps:ungated", "--factory"]
        ungated += ["--port", str(port), "--http", "httptools", "--loop", "uvloop"]
        ungated += ["--no-access-log", "--log-level", "warning"]
        with process(ungated, {**base_env, "CACHEFRONT_LOG_LEVEL": "warning"}) as proc:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
            rows.append(
                ("no auth, no limits", measure(f"http://127.0.0.1:{port}{path}", args.seconds, {}))
            )
        with cachefront(base_env) as base:
            rows.append(("API key + limits in memory", measure(base + path, args.seconds, auth)))
        redis_env = {
            **base_env,
            "CACHEFRONT_REDIS_URL": redis_url,
            "CACHEFRONT_REDIS_PREFIX": "cfbenchauth",
            "CACHEFRONT_RATE_LIMIT_STORAGE": "redis",
        }
        with cachefront(redis_env) as base:
            rows.append(("API key + limits in Redis", measure(base + path, args.seconds, auth)))
            rows.append(("anonymous + limits in Redis", measure(base + path, args.seconds, {})))

    baseline = rows[0][1]
    print(
        "| variant | p50 ms (-c1) | p99 ms (-c1) | added p50 ms | req/s (-c16) | throughput ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, (p50, p99, rps) in rows:
        print(
            f"| {name} | {p50:.3f} | {p99:.3f} | {p50 - baseline[0]:+.3f} | {rps:,.0f} "
            f"| {rps / baseline[2]:.2f} |"
        )


if __name__ == "__main__":
    main()
