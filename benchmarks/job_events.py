"""Job event streams: what open streams cost the database and the server, and how soon a
change reaches them.

One `cachefront serve` process (no worker), ``--jobs`` queued jobs, ``--streams`` open
streams spread over them. Over ``--seconds`` of quiet it counts the bench database's
transactions and the server's CPU time; then it moves one job's progress at a time,
``--changes`` times, through ``JobRecords.set_progress`` (which sends the NOTIFY) and
times, for every stream of that job, commit to event. ``--baseline-src`` runs the same
measurement first against another checkout's ``src`` (e.g. the commit before streams
listened), on a database of its own, so both figures come from one run on one machine.

    cd benchmarks && ../.venv/bin/python job_events.py --streams 200 --jobs 200 \\
        --seconds 20 --baseline-src /tmp/cachefront-base/src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass

import httpx
import jwt
import psycopg
from harness import bench_database, free_port, process, wait_http

from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.jobs.records import JobRecords

SECRET = "jwt-secret-for-the-events-benchmark-0123456789"  # noqa: S105 (a local benchmark's own)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
JOB = {
    "type": "ephemeris-export",
    "params": {"bodies": ["mars"], "start": "2031-01-01T00:00:00Z", "stop": "2031-01-02T00:00:00Z"},
}


@dataclass(frozen=True)
class Result:
    label: str
    transactions_per_s: float
    server_cpu_share: float
    latency_ms: list[float]


def _token() -> str:
    now = int(time.time())
    claims = {"sub": "bench", "aud": "authenticated", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


async def _watch(
    client: httpx.AsyncClient, job_id: str, ready: asyncio.Event, seen: list[float]
) -> None:
    """One stream: note when each progress event arrives."""
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                seen.append(time.monotonic())
                ready.set()


async def _measure(label: str, base: str, url: str, pid: int, args: argparse.Namespace) -> Result:
    limits = httpx.Limits(max_connections=args.streams + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {_token()}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=60, limits=limits
    ) as client:
        job_ids = []
        for _ in range(args.jobs):
            created = await client.post("/v1/jobs", json=JOB)
            created.raise_for_status()
            job_ids.append(created.json()["id"])
        watched = [job_ids[n % args.jobs] for n in range(args.streams)]
        readies = [asyncio.Event() for _ in range(args.streams)]
        seen: list[list[float]] = [[] for _ in range(args.streams)]
        tasks = [
            asyncio.create_task(_watch(client, job_id, ready, times))
            for job_id, ready, times in zip(watched, readies, seen, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        await asyncio.sleep(1.0)
        commits, cpu, started = _commits(url), _cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(args.seconds)
        elapsed = time.monotonic() - started
        per_s = (_commits(url) - commits) / elapsed
        cpu_share = (_cpu_seconds(pid) - cpu) / elapsed

        engine = create_engine(url)
        records = JobRecords(engine)
        latencies: list[float] = []
        for n in range(args.changes):
            job_id = job_ids[n % args.jobs]
            mine = [
                times for times, watching in zip(seen, watched, strict=True) if watching == job_id
            ]
            counts = [len(times) for times in mine]
            await records.set_progress(uuid.UUID(job_id), (n + 1) / (args.changes + 1))
            committed = time.monotonic()
            deadline = committed + 5.0
            # Arrival times are taken by the streams' tasks, not by this loop.
            while time.monotonic() < deadline and any(  # noqa: ASYNC110
                len(times) == count for times, count in zip(mine, counts, strict=True)
            ):
                await asyncio.sleep(0.002)
            latencies += [
                (times[count] - committed) * 1000
                for times, count in zip(mine, counts, strict=True)
                if len(times) > count
            ]
            await asyncio.sleep(0.3)
        await engine.dispose()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return Result(label, per_s, cpu_share, latencies)


def _run(label: str, src: str | None, args: argparse.Namespace) -> Result:
    with bench_database() as url:
        upgrade(url)
        port = free_port()
        env = {
            "CACHEFRONT_DATABASE_URL": url,
            "CACHEFRONT_MIGRATE_ON_START": "false",
            "CACHEFRONT_WORKER_IN_PROCESS": "false",
            "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
            "CACHEFRONT_JWT_SECRET": SECRET,
            "CACHEFRONT_JWT_AUDIENCE": "authenticated",
            "CACHEFRONT_RATE_LIMITS": json.dumps(
                {g: "1000000/minute" for g in ("jobs", "generation", "general")}
            ),
            "CACHEFRONT_MAX_CONNECTIONS": str(args.streams + 100),
            "CACHEFRONT_LOG_LEVEL": "warning",
        }
        if src is not None:
            env["PYTHONPATH"] = src
        cmd = [sys.executable, "-m", "cachefront", "serve", "--port", str(port)]
        with process([*cmd, "--workers", "1"], env) as proc:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/health", proc)
            return asyncio.run(_measure(label, base, url, proc.pid, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1, help="jobs the streams spread over")
    parser.add_argument("--baseline-src", help="another checkout's src/ to measure first")
    args = parser.parse_args()
    results = []
    if args.baseline_src:
        results.append(_run("baseline", args.baseline_src, args))
    results.append(_run("this checkout", None, args))
    print(f"{args.streams} streams on {args.jobs} queued job(s), {args.seconds:g} s quiet")
    print("| code | transactions/s (quiet) | server CPU (quiet) | change->event p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        q = (
            statistics.quantiles(r.latency_ms, n=100, method="inclusive")
            if len(r.latency_ms) > 1
            else [0.0] * 99
        )
        print(
            f"| {r.label} | {r.transactions_per_s:.0f} | {r.server_cpu_share:.0%} "
            f"| {q[49]:.1f} ms | {q[98]:.1f} ms | {max(r.latency_ms, default=0):.1f} ms |"
        )
        expected = args.changes * (args.streams // args.jobs)
        if len(r.latency_ms) < expected:
            print(f"  ({r.label}: {expected - len(r.latency_ms)} events not seen within 5 s)")


if __name__ == "__main__":
    main()
