"""Job queue latency: enqueue-to-start p50/p99 and jobs per second, with 1 and 2 workers.

Defers N no-op jobs (a task whose body only records when it started) through the real
procrastinate queue on a fresh benchmark database, with `cachefront worker` processes
running them, and reads start times from procrastinate's event table.

    .venv/bin/python benchmarks/jobs_latency.py --jobs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

import psycopg
from harness import bench_database, process

from cachefront.config import Settings
from cachefront.db.migrate import upgrade
from cachefront.jobs.queue import PERIODIC_QUEUE, build_queue_app, libpq_url
from cachefront.jobs.registry import JobRegistry

# The benchmark's own no-op task, registered into the same app the workers build.
NOOP = "benchmark-noop"


def _env(url: str, concurrency: int) -> dict[str, str]:
    return {
        "CACHEFRONT_DATABASE_URL": url,
        "CACHEFRONT_MIGRATE_ON_START": "false",
        "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
        "CACHEFRONT_WORKER_CONCURRENCY": str(concurrency),
        "CACHEFRONT_LOG_LEVEL": "warning",
        "PYTHONPATH": os.path.dirname(__file__),
    }


async def _defer(url: str, count: int) -> float:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    app = build_queue_app(settings, url, JobRegistry())
    async with app.open_async():
        started = time.perf_counter()
        # One job at a time, as API requests would enqueue them.
        for _ in range(count):
            await app.configure_task(NOOP, queue=PERIODIC_QUEUE).defer_async()
        return time.perf_counter() - started


def _latencies(url: str) -> tuple[list[float], float]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            """
            SELECT extract(epoch FROM s.at - d.at) * 1000, s.at
              FROM procrastinate_events d
              JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started'
             WHERE d.type = 'deferred'
            """
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM max(at) - min(at)) FROM procrastinate_events "
            "WHERE type IN ('deferred', 'succeeded')"
        ).fetchone()
    return [float(r[0]) for r in rows], float(span[0] if span else 0)


def _done(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()
    return int(row[0]) if row else 0


def run(workers: int, jobs: int, concurrency: int) -> dict[str, float]:
    with bench_database() as url:
        upgrade(url)
        env = _env(url, concurrency)
        procs = [
            process([sys.executable, "-m", "jobs_latency_worker"], env) for _ in range(workers)
        ]
        entered = [p.__enter__() for p in procs]
        try:
            time.sleep(3)  # workers up and listening
            defer_seconds = asyncio.run(_defer(url, jobs))
            deadline = time.monotonic() + 300
            while _done(url) < jobs and time.monotonic() < deadline:
                time.sleep(0.2)
            latencies, span = _latencies(url)
        finally:
            for p in procs:
                p.__exit__(None, None, None)
        del entered
    latencies.sort()
    return {
        "workers": workers,
        "jobs": jobs,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "jobs_per_s": jobs / span if span else 0.0,
        "defer_per_s": jobs / defer_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    for workers in (1, 2):
        r = run(workers, args.jobs, args.concurrency)
        print(
            f"workers={r['workers']} jobs={r['jobs']} enqueue->start p50={r['p50_ms']:.1f} ms "
            f"p99={r['p99_ms']:.1f} ms  throughput={r['jobs_per_s']:.0f} jobs/s "
            f"(defer {r['defer_per_s']:.0f}/s)"
        )


if __name__ == "__main__":
    main()
