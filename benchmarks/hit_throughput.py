"""Cache-hit throughput of GET /v1/ephemeris/{body} against nginx serving the same JSON.

Both run on this machine in one run, each measured with wrk (-c64, one thread as the
targets of issues 13 and 16 are set, ``--threads`` to change it), so the ratio is what
matters. cachefront answers from its memory tier with metrics and cache headers
applied; nginx serves the identical bytes as a static file.

    python benchmarks/hit_throughput.py [--seconds 10] [--workers 2] [--redis [--exact]]
        [--direct on|off|both] [--threads 1]

With ``--redis`` the limits are shared through Redis from leases (the default);
``--exact`` counts every request in Redis instead (``CACHEFRONT_RATE_LIMIT_EXACT``).
``--direct`` sets ``CACHEFRONT_DIRECT_HITS`` (hits answered by the server protocol,
before ASGI; on by default); ``both`` measures cachefront with it on and off,
alternately, twice each, against the one nginx figure, since the machine's load
drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import (
    DEFAULT_REDIS_URL,
    WrkResult,
    bench_database,
    cachefront,
    free_port,
    process,
    simulator,
    wait_http,
    wrk,
)

NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; default_type application/json; }}
    }}
}}
"""


def bare_asgi(workers: int, seconds: int, threads: int = 1) -> WrkResult:
    """wrk against a bare ASGI app under the same uvicorn options cachefront uses."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bare_asgi:app", "--port", str(port)]
    # The app sits beside this script: found from any working directory.
    args += ["--app-dir", str(Path(__file__).resolve().parent)]
    args += ["--workers", str(workers), "--http", "httptools", "--loop", "uvloop"]
    args += ["--no-access-log", "--log-level", "warning"]
    with process(args) as proc:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        return wrk(f"http://127.0.0.1:{port}/", seconds=seconds, threads=threads)


def warm(url: str) -> bytes:
    """Warm every worker's memory tier (repeat until hits show plenty); the hit's body."""
    body = b""
    for _ in range(200):
        body = httpx.get(url).content
    head = httpx.get(url).headers
    assert head["x-cache"] == "memory", head
    assert "ratelimit" in head, "limits must be applied"
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--redis",
        action="store_true",
        help="with Redis as the shared tier and the rate-limit store (leases by default)",
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="with --redis: one Redis round trip per request instead of leases",
    )
    parser.add_argument(
        "--direct",
        choices=("on", "off", "both"),
        default="on",
        help="hits answered before ASGI (CACHEFRONT_DIRECT_HITS); both: alternate on and off",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    args = parser.parse_args()
    settings: tuple[str, ...] = (
        ("on", "off", "on", "off") if args.direct == "both" else (args.direct,)
    )
    threads = args.threads

    at = "2026-11-24T12:00:00Z"
    ours: list[tuple[str, WrkResult]] = []
    with simulator() as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
            # Limits stay on and are counted for every request; they are only set high
            # enough that one client IP hammering the route is not turned away.
            "CACHEFRONT_RATE_LIMITS": json.dumps({"upstream": "1000000000/minute"}),
        }
        if args.redis:
            env["CACHEFRONT_REDIS_URL"] = os.environ.get(
                "CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL
            )
            env["CACHEFRONT_REDIS_PREFIX"] = f"bench{os.getpid()}"
            env["CACHEFRONT_RATE_LIMIT_EXACT"] = "true" if args.exact else "false"
        env["CACHEFRONT_DIRECT_HITS"] = "true" if settings[0] == "on" else "false"
        with cachefront(env, workers=args.workers) as base:
            url = f"{base}/v1/ephemeris/mars?at={at}"
            body = warm(url)
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                root.chmod(0o755)
                (root / "mars.json").write_bytes(body)
                port = free_port()
                conf = root / "nginx.conf"
                conf.write_text(NGINX_CONF.format(workers=args.workers, root=root, port=port))
                nginx = subprocess.Popen(["nginx", "-c", str(conf)])
                try:
                    time.sleep(0.5)
                    nginx_result = wrk(
                        f"http://127.0.0.1:{port}/mars.json", seconds=args.seconds, threads=threads
                    )
                finally:
                    nginx.terminate()
                    nginx.wait()
            ours.append((settings[0], wrk(url, seconds=args.seconds, threads=threads)))
        for direct in settings[1:]:
            env["CACHEFRONT_DIRECT_HITS"] = "true" if direct == "on" else "false"
            with cachefront(env, workers=args.workers) as base:
                url = f"{base}/v1/ephemeris/mars?at={at}"
                warm(url)
                ours.append((direct, wrk(url, seconds=args.seconds, threads=threads)))
    bare = bare_asgi(args.workers, args.seconds, threads)

    print("| server | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("nginx static file", nginx_result),
        ("bare ASGI app, pre-built bytes (uvicorn)", bare),
        *((f"cachefront memory hit, direct {direct}", r) for direct, r in ours),
    ]
    for name, r in rows:
        print(
            f"| {name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.non_2xx} |"
        )
    storage = ("Redis, exact" if args.exact else "Redis, leases") if args.redis else "memory"
    print()
    for direct, r in ours:
        ratio = r.requests_per_second / nginx_result.requests_per_second
        print(
            f"ratio cachefront / nginx: {ratio:.2f}x (workers={args.workers}, "
            f"limits in {storage}, direct hits {direct})"
        )
    bare_ratio = bare.requests_per_second / nginx_result.requests_per_second
    print(f"ratio bare ASGI / nginx: {bare_ratio:.2f}x")


if __name__ == "__main__":
    main()
