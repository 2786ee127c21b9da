"""What recording metrics and counting for Prometheus cost hot-hit throughput, in one run.

``cachefront serve --workers 2`` answers GET /v1/ephemeris/mars from its memory tier
under wrk (-c64, 2 threads) in three modes, alternated round by round in the same
run so drift of a shared machine falls on all three:

- ``off``: ``CACHEFRONT_METRICS_RECORDING=false``, nothing recorded;
- ``recording``: every request recorded and flushed to PostgreSQL, Prometheus off;
- ``recording+prometheus``: the default, each flush also feeding the Prometheus sink.

The costs are the medians of each round's ratio to that round's ``off``. A loaded
machine blurs throughput, so the CPU the hot path spends per request on recording is
also timed directly (time.process_time, which other processes' load does not
inflate much): the hot-path call (``record_hit``), the flush's share per request (a
real flush of a batch to the bench database) and the Prometheus sink's, each against
the time a worker spends per request at the ``off`` throughput. Target: under 3% of
hot-hit throughput.

    cd benchmarks && ../.venv/bin/python metrics_hot_path.py [--seconds 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable

import httpx
from harness import bench_database, cachefront, simulator, wrk

from cachefront.db.engine import create_engine
from cachefront.http.fastpath import record_hit
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.observability.prometheus import PrometheusSink

MODES = ("off", "recording", "recording+prometheus")
ROUTES = [f"/v1/r{n}/{{x}}" for n in range(12)]
BATCH = 20_000


class _Route:
    prefix = "/v1/r"

    def __init__(self, template: str) -> None:
        self.template = template

    def resolve(self, path: str, query: bytes, now: float) -> tuple[str, str] | None:
        return None


def _best(runs: int, once: Callable[[], float]) -> float:
    return min(once() for _ in range(runs))


def record_us() -> float:
    """CPU per request of the hot path's recording call (best of five batches)."""
    routes = [_Route(t) for t in ROUTES]

    def once() -> float:
        recorder = MetricsRecorder(None, buffer_max=10 * BATCH)
        started = time.process_time()
        for n in range(BATCH):
            record_hit(recorder, routes[n % 12], 200, time.time(), time.perf_counter())
        return time.process_time() - started

    # Less the cost of the loop and the two clock reads every call site pays anyway.
    def bare() -> float:
        started = time.process_time()
        for n in range(BATCH):
            routes[n % 12], time.time(), time.perf_counter()
        return time.process_time() - started

    return max(0.0, _best(5, once) - _best(5, bare)) / BATCH * 1e6


def flush_us(database_url: str) -> float:
    """CPU per request of the flush that writes a batch of hot hits (best of five)."""

    async def run() -> float:
        engine = create_engine(database_url, pool_size=1)
        routes = [_Route(t) for t in ROUTES]
        best = float("inf")
        try:
            for _ in range(5):
                recorder = MetricsRecorder(engine, buffer_max=10 * BATCH)
                for n in range(BATCH):
                    record_hit(recorder, routes[n % 12], 200, time.time(), time.perf_counter())
                started = time.process_time()
                await recorder.flush()
                best = min(best, time.process_time() - started)
        finally:
            await engine.dispose()
        return best / BATCH * 1e6

    return asyncio.run(run())


def sink_us() -> float:
    """CPU per request the Prometheus sink spends on a flush's batch (best of five)."""
    sink = PrometheusSink()
    now = time.time()
    batch = [
        (now, "GET", ROUTES[n % 12], 200, random.random() * 3, "memory", 0) for n in range(BATCH)
    ]

    def once() -> float:
        started = time.process_time()
        sink.add_requests(batch)
        return time.process_time() - started

    return _best(5, once) / BATCH * 1e6


def one_round(env: dict[str, str], mode: str, workers: int, seconds: int) -> float:
    at = "2026-11-24T12:00:00Z"
    flags = {
        "CACHEFRONT_METRICS_RECORDING": "false" if mode == "off" else "true",
        "CACHEFRONT_PROMETHEUS_ENABLED": "true" if mode == "recording+prometheus" else "false",
    }
    with cachefront({**env, **flags}, workers=workers) as base:
        url = f"{base}/v1/ephemeris/mars?at={at}"
        for _ in range(200):
            httpx.get(url)
        assert httpx.get(url).headers["x-cache"] == "memory"
        return wrk(url, seconds=seconds).requests_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with simulator() as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            "CACHEFRONT_RATE_LIMITS": json.dumps({"upstream": "1000000000/minute"}),
        }
        for n in range(args.rounds):
            # Each round starts with a different mode, so none always runs first.
            order = MODES[n % 3 :] + MODES[: n % 3]
            for mode in order:
                rps = one_round(env, mode, args.workers, args.seconds)
                results[mode].append(rps)
                print(f"round {n + 1}, {mode:<21}: {rps:,.0f} req/s", flush=True)
        flush = flush_us(db)
    print()
    for mode in MODES:
        print(f"median {mode:<21} {statistics.median(results[mode]):,.0f} req/s")
    for mode in MODES[1:]:
        # Each round's modes ran back to back: their ratio is what drift spares.
        ratios = sorted(a / b for a, b in zip(results[mode], results["off"], strict=True))
        print(
            f"{mode}/off per round: "
            + ", ".join(f"{r:.3f}" for r in ratios)
            + f"; median cost {1 - statistics.median(ratios):+.1%}"
        )
    # The same costs timed directly, against the time one worker spends per request.
    per_request_us = args.workers / statistics.median(results["off"]) * 1e6
    rec, sink = record_us(), sink_us()
    for name, us in (
        ("record_hit", rec),
        ("flush", flush),
        ("recording (record_hit + flush)", rec + flush),
        ("prometheus sink", sink),
        ("all", rec + flush + sink),
    ):
        print(
            f"{name}: {us:.2f} us of CPU per request, {us / per_request_us:.1%} of the "
            f"{per_request_us:.0f} us a worker spends per request"
        )


if __name__ == "__main__":
    main()
