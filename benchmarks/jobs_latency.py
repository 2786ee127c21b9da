"""Job queue latency: enqueue-to-start p50/p99 and jobs per second, with 1 and 2 workers.

No-op jobs (a task whose body does nothing) go through the real procrastinate queue on
a fresh benchmark database, with `cachefront worker` processes running them; start
times are read from procrastinate's event table. Three modes:

- ``flood``: defer N jobs one at a time as fast as one client can, workers running;
  the latency is mostly time in a backlog.
- ``paced``: defer one job every ``--pace-ms``, well under what the workers sustain;
  the latency is the idle wake-up (LISTEN/NOTIFY) plus one fetch.
- ``drain``: defer N jobs with no worker running, then start the workers; the rate at
  which they empty the queue is the workers' own throughput, with CPU use alongside.

    cd benchmarks && ../.venv/bin/python jobs_latency.py --mode paced --jobs 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg
from harness import bench_database, process

from cachefront.config import Settings
from cachefront.db.migrate import upgrade
from cachefront.jobs.queue import PERIODIC_QUEUE, build_queue_app, libpq_url
from cachefront.jobs.registry import JobRegistry

# The benchmark's own no-op task, registered into the same app the workers build.
NOOP = "benchmark-noop"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Outcome:
    mode: str
    workers: int
    jobs: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    jobs_per_s: float
    defer_per_s: float
    worker_cpu_s: list[float]
    machine_busy: float  # share of all cores busy while the jobs ran (drain mode)


def _env(url: str, concurrency: int) -> dict[str, str]:
    return {
        "CACHEFRONT_DATABASE_URL": url,
        "CACHEFRONT_MIGRATE_ON_START": "false",
        "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
        "CACHEFRONT_WORKER_CONCURRENCY": str(concurrency),
        "CACHEFRONT_LOG_LEVEL": "warning",
        "PYTHONPATH": os.path.dirname(__file__),
    }


async def _defer(url: str, count: int, pace_s: float) -> float:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    app = build_queue_app(settings, url, JobRegistry())
    async with app.open_async():
        started = time.perf_counter()
        # One job at a time, as API requests would enqueue them; paced on a fixed
        # schedule so a slow defer does not push the following ones back.
        for i in range(count):
            if pace_s:
                await asyncio.sleep(max(0.0, started + i * pace_s - time.perf_counter()))
            await app.configure_task(NOOP, queue=PERIODIC_QUEUE).defer_async()
        return time.perf_counter() - started


def _latencies(url: str) -> tuple[list[float], float]:
    """Enqueue-to-start of every job (ms), and the seconds from first start to last success."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            """
            SELECT extract(epoch FROM s.at - d.at) * 1000
              FROM procrastinate_events d
              JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started'
              JOIN procrastinate_jobs j ON j.id = d.job_id AND j.task_name = %s
             WHERE d.type = 'deferred'
            """,
            (NOOP,),
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded') "
            "- min(e.at) FILTER (WHERE e.type = 'started')) "
            "FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
            "WHERE j.task_name = %s",
            (NOOP,),
        ).fetchone()
    return [float(r[0]) for r in rows], float(span[0] if span and span[0] else 0)


def _done(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded' AND task_name = %s",
            (NOOP,),
        ).fetchone()
    return int(row[0]) if row else 0


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@contextmanager
def _workers(url: str, count: int, concurrency: int, *, settle: bool) -> Iterator[list[int]]:
    env = _env(url, concurrency)
    with ExitStack() as stack:
        procs = [
            stack.enter_context(process([sys.executable, "-m", "jobs_latency_worker"], env))
            for _ in range(count)
        ]
        if settle:
            time.sleep(3)  # workers up and listening
        yield [p.pid for p in procs]


def _first_start(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = conn.execute("SELECT 1 FROM procrastinate_events WHERE type = 'started' LIMIT 1")
            if row.fetchone():
                return
            time.sleep(0.02)


def _wait_done(url: str, jobs: int) -> None:
    deadline = time.monotonic() + 300
    while _done(url) < jobs and time.monotonic() < deadline:
        time.sleep(0.1)


def run(mode: str, workers: int, jobs: int, concurrency: int, pace_ms: float) -> Outcome:
    cpu: list[float] = []
    busy = 0.0
    with bench_database() as url:
        upgrade(url)
        if mode == "drain":
            defer_seconds = asyncio.run(_defer(url, jobs, 0))
            with _workers(url, workers, concurrency, settle=False) as pids:
                # Sampled from the first job on, so the workers' start-up is not counted.
                _first_start(url)
                ticks_before = _machine_ticks()
                cpu_before = {pid: _cpu_seconds(pid) for pid in pids}
                _wait_done(url, jobs)
                ticks_after = _machine_ticks()
                cpu = [_cpu_seconds(pid) - cpu_before[pid] for pid in pids]
            busy = (ticks_after[0] - ticks_before[0]) / max(1, ticks_after[1] - ticks_before[1])
        else:
            with _workers(url, workers, concurrency, settle=True):
                pace = pace_ms / 1000 if mode == "paced" else 0.0
                defer_seconds = asyncio.run(_defer(url, jobs, pace))
                _wait_done(url, jobs)
        latencies, span = _latencies(url)
    latencies.sort()
    return Outcome(
        mode=mode,
        workers=workers,
        jobs=jobs,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)],
        max_ms=latencies[-1],
        jobs_per_s=jobs / span if span else 0.0,
        defer_per_s=jobs / defer_seconds,
        worker_cpu_s=cpu,
        machine_busy=busy,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["flood", "paced", "drain"], default="flood")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pace-ms", type=float, default=30.0, help="paced mode: ms between jobs")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for workers in args.workers:
        r = run(args.mode, workers, args.jobs, args.concurrency, args.pace_ms)
        line = (
            f"{r.mode} workers={r.workers} jobs={r.jobs} enqueue->start p50={r.p50_ms:.1f} ms "
            f"p99={r.p99_ms:.1f} ms max={r.max_ms:.1f} ms  throughput={r.jobs_per_s:.0f} jobs/s "
            f"(defer {r.defer_per_s:.0f}/s)"
        )
        if r.worker_cpu_s:
            cpu = ", ".join(f"{c:.1f}" for c in r.worker_cpu_s)
            line += f"  worker CPU s [{cpu}], machine busy {r.machine_busy:.0%}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
