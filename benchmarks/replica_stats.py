"""The stats route with a streaming replica configured, against the same route on the primary.

Starts a PostgreSQL primary of its own and a streaming replica of it (the cluster
tests' ``StreamingPair``), generates ``--per-day`` requests of metrics over the last
day with ``stats_query.py``'s generator, waits for the replica to replay them, then
runs two ``cachefront serve`` processes on the same primary, one of them with
``CACHEFRONT_DATABASE_REPLICA_URL``, and alternates ``GET /v1/admin/stats`` (24 h)
between them, one request at a time, so both see the same load.

    cd benchmarks && ../.venv/bin/python replica_stats.py [--per-day 200000] [--requests 200]

Both servers of the pair run on this machine, so the replica offloads nothing here:
the figure is what routing costs (the replay check of a read that must see its flush),
not what a replica on its own machine saves the primary.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from harness import free_port
from sqlalchemy import text
from stats_query import _CALLS, _REQUESTS, _ROLLUP, ROUTES

from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.metrics.partitions import create_partitions, days_between

REPO = Path(__file__).resolve().parents[1]
# The cluster tests' process helpers: the same streaming pair and API processes.
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration" / "cluster")]
from cluster_processes import ApiProcess, StreamingPair  # noqa: E402

KEY = "replica-bench-service-key-0123456789"


async def seed(url: str, per_day: int) -> None:
    """``per_day`` requests over the last day, raw rows and rollups, as ``stats_query.py``."""
    upgrade(url)
    owner = create_engine(url, pool_size=2)
    now = datetime.now(UTC)
    first = (now - timedelta(days=1)).date()
    await create_partitions(owner, days_between(first, now.date()))
    routes = ", ".join(f"'{r}'" for r in ROUTES)
    lo = now - timedelta(days=1)
    bounds = {"lo": lo, "hi": now}
    async with owner.begin() as conn:
        await conn.execute(text(_REQUESTS.format(routes=routes)), {**bounds, "n": per_day})
        await conn.execute(text(_CALLS), {**bounds, "n": per_day // 10})
        for statement in _ROLLUP.split(";"):
            await conn.execute(text(statement), bounds)
    async with owner.begin() as conn:
        await conn.execute(text("ANALYZE"))
    await owner.dispose()


def replayed(pair: StreamingPair, timeout: float = 120) -> None:
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
    assert row is not None
    deadline = time.monotonic() + timeout
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        while conn.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
        ).fetchone() != (True,):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.1)


def replica_transactions(pair: StreamingPair) -> int:
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="per server")
    args = parser.parse_args()
    with StreamingPair() as pair:
        started = time.perf_counter()
        asyncio.run(seed(pair.primary_url, args.per_day))
        replayed(pair)
        print(f"seeded {args.per_day:,} requests in {time.perf_counter() - started:.0f} s")
        env = {
            "CACHEFRONT_DATABASE_URL": pair.primary_url,
            "CACHEFRONT_SERVICE_KEY": KEY,
            "CACHEFRONT_WORKER_IN_PROCESS": "false",
            "CACHEFRONT_MIGRATE_ON_START": "false",
            "CACHEFRONT_LOG_LEVEL": "warning",
        }
        servers = {
            "primary only": ApiProcess(env, free_port()),
            "replica configured": ApiProcess(
                {**env, "CACHEFRONT_DATABASE_REPLICA_URL": pair.replica_url}, free_port()
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in servers}
        replica_before = replica_transactions(pair)
        try:
            for server in servers.values():
                server.start()
            clients = {
                name: httpx.Client(
                    base_url=s.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
                )
                for name, s in servers.items()
            }
            for client in clients.values():  # warm: pools, caches of the pages read
                for _ in range(5):
                    assert client.get("/v1/admin/stats").status_code == 200
            for _ in range(args.requests):
                for name, client in clients.items():
                    t0 = time.perf_counter()
                    answer = client.get("/v1/admin/stats")
                    samples[name].append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200, answer.text
            counts = {
                name: c.get("/v1/admin/stats").json()["requests"] for name, c in clients.items()
            }
            for client in clients.values():
                client.close()
        finally:
            for server in servers.values():
                server.close()
        print(f"requests counted by each: {counts}")
        # The servers have exited, so their backends' statistics are in.
        time.sleep(1.5)
        print(
            f"transactions on the replica during the run: "
            f"{replica_transactions(pair) - replica_before:,} (the lag check runs once a second)"
        )
        print("| stats read | p50 | p95 | requests |")
        print("|---|---:|---:|---:|")
        for name, ms in samples.items():
            print(
                f"| {name} | {statistics.median(ms):.1f} ms | {percentile(ms, 0.95):.1f} ms "
                f"| {len(ms)} |"
            )


if __name__ == "__main__":
    main()
