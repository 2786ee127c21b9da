"""What counting for Prometheus costs hot-hit throughput: the same server with it on and off.

``cachefront serve --workers 2`` answers GET /v1/ephemeris/mars from its memory tier
under wrk (-c64, 2 threads), with ``CACHEFRONT_PROMETHEUS_ENABLED`` on and off in
alternating rounds of the same run, so drift of a shared machine falls on both;
the cost is the median of each round's on/off ratio. The sink's CPU per request
is also timed directly, which a busy machine's noise does not hide.
Either way every request is recorded (the tuple the recorder buffers and flushes to
PostgreSQL); on, each flush also adds its batch to the Prometheus counters and
histograms. Target: under 3% of hot-hit throughput.

    cd benchmarks && ../.venv/bin/python metrics_hot_path.py [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import httpx
from harness import bench_database, cachefront, simulator, wrk

from cachefront.observability.prometheus import PrometheusSink


def sink_microseconds(rows: int = 20_000) -> float:
    """CPU time the sink spends per request on a flush's batch (best of five)."""
    sink = PrometheusSink()
    now = time.time()
    batch = [
        (now, "GET", f"/v1/r{n % 12}/{{x}}", 200, random.random() * 3, "memory", 0)
        for n in range(rows)
    ]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sink.add_requests(batch)
        best = min(best, time.perf_counter() - started)
    return best / rows * 1e6


def one_round(env: dict[str, str], enabled: bool, workers: int, seconds: int) -> float:
    at = "2026-11-24T12:00:00Z"
    flag = {"CACHEFRONT_PROMETHEUS_ENABLED": "true" if enabled else "false"}
    with cachefront({**env, **flag}, workers=workers) as base:
        url = f"{base}/v1/ephemeris/mars?at={at}"
        for _ in range(200):
            httpx.get(url)
        assert httpx.get(url).headers["x-cache"] == "memory"
        return wrk(url, seconds=seconds).requests_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results: dict[bool, list[float]] = {True: [], False: []}
    with simulator() as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_RATE_LIMITS": json.dumps({"upstream": "1000000000/minute"}),
        }
        for n in range(args.rounds):
            for enabled in (n % 2 == 0, n % 2 == 1):
                rps = one_round(env, enabled, args.workers, args.seconds)
                results[enabled].append(rps)
                print(f"round {n + 1}, prometheus {'on ' if enabled else 'off'}: {rps:,.0f} req/s")
    on, off = statistics.median(results[True]), statistics.median(results[False])
    # Each round's on and off ran back to back: their ratio is what drift spares.
    paired = sorted(a / b for a, b in zip(results[True], results[False], strict=True))
    print(f"\nmedian on {on:,.0f} req/s, off {off:,.0f} req/s")
    print(
        "on/off per round: "
        + ", ".join(f"{r:.3f}" for r in paired)
        + f"; median cost {1 - statistics.median(paired):+.1%}"
    )
    # The same cost measured directly: CPU per request against the time one worker
    # spends per request at the throughput measured with it on.
    per_request_us = args.workers / on * 1e6
    sink_us = sink_microseconds()
    print(
        f"sink: {sink_us:.2f} us of CPU per request, {sink_us / per_request_us:.1%} of the "
        f"{per_request_us:.0f} us a worker spends per request"
    )


if __name__ == "__main__":
    main()
