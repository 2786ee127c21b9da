"""Cross-process invalidation latency: a write announced in one process, dropped in another.

A listener process runs the real announcer over its own memory tier and reports when
each key left it; this process announces keys one at a time through its own announcer
and times each from just before ``announce`` to the drop (CLOCK_MONOTONIC is one clock
for every process of the machine). The target is p99 under 100 ms.

    python benchmarks/invalidation_latency.py [--carrier redis|postgres] [--count 500]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from multiprocessing.connection import Connection

from harness import DEFAULT_REDIS_URL, bench_database

from cachefront.cache.invalidation import Announcer
from cachefront.cache.invalidation_postgres import PostgresAnnouncer
from cachefront.cache.invalidation_redis import RedisAnnouncer
from cachefront.cache.memory import MemoryStore
from cachefront.db.engine import create_engine
from cachefront.redis_link import RedisLink

NS = "bench"


class _TimedMemory(MemoryStore):
    """A memory tier that tells the parent when each key was dropped."""

    def __init__(self, pipe: Connection) -> None:
        super().__init__()
        self._pipe = pipe

    def discard(self, ns: str, key: str) -> int:
        self._pipe.send((key, time.monotonic()))
        return super().discard(ns, key)


def _announcer(
    carrier: str, target: str, memory: MemoryStore, run_id: int
) -> tuple[Announcer, object]:
    if carrier == "redis":
        link = RedisLink(target, prefix=f"benchinv{run_id}")
        return RedisAnnouncer(link, memory), link
    engine = create_engine(target, pool_size=2)
    return PostgresAnnouncer(engine, memory), engine


async def _close(resource: object) -> None:
    if isinstance(resource, RedisLink):
        await resource.aclose()
    else:
        await resource.dispose()  # type: ignore[attr-defined]


def _listen(carrier: str, target: str, pipe: Connection, run_id: int) -> None:
    async def run() -> None:
        announcer, resource = _announcer(carrier, target, _TimedMemory(pipe), run_id)
        await announcer.open()
        pipe.send(("ready", 0.0))
        await asyncio.to_thread(pipe.recv)  # told to stop
        await announcer.aclose()
        await _close(resource)

    asyncio.run(run())


async def _announce_all(carrier: str, target: str, pipe: Connection, count: int) -> list[float]:
    announcer, resource = _announcer(carrier, target, MemoryStore(), os.getpid())
    await announcer.open()
    latencies: list[float] = []
    try:
        for i in range(count):
            key = f"k{i}"
            started = time.monotonic()
            await announcer.announce(NS, [key])
            # Bounded: a message that never arrives ends the run instead of hanging it.
            if not await asyncio.to_thread(pipe.poll, 5.0):
                raise RuntimeError(f"{key} was announced but never dropped by the listener")
            got, dropped_at = pipe.recv()
            assert got == key, (got, key)
            latencies.append((dropped_at - started) * 1000)
            await asyncio.sleep(0.005)  # spaced like separate writes, not one burst
    finally:
        await announcer.aclose()
        await _close(resource)
    return latencies


def _measure(carrier: str, target: str, count: int) -> list[float]:
    parent, child = multiprocessing.Pipe()
    listener = multiprocessing.get_context("spawn").Process(
        target=_listen, args=(carrier, target, child, os.getpid())
    )
    listener.start()
    try:
        assert parent.poll(30), "the listener did not start"
        assert parent.recv()[0] == "ready"
        return asyncio.run(_announce_all(carrier, target, parent, count))
    finally:
        parent.send("stop")
        listener.join(timeout=15)
        if listener.is_alive():
            listener.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--carrier", choices=["redis", "postgres"], default="redis")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    if args.carrier == "redis":
        latencies = _measure(
            "redis", os.environ.get("CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL), args.count
        )
    else:
        with bench_database() as db:
            latencies = _measure("postgres", db, args.count)
    cuts = statistics.quantiles(latencies, n=100)
    print("| carrier | messages | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| {args.carrier} | {len(latencies)} | {cuts[49]:.2f} | {cuts[98]:.2f} "
        f"| {max(latencies):.2f} |"
    )


if __name__ == "__main__":
    main()
