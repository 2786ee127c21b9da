"""Cache-hit throughput of GET /v1/prices/{symbol} against nginx serving the same JSON.

As benchmarks/hit_throughput.py does for ephemeris: both on this machine in one run,
each measured with wrk (-c64, one thread as issue 13 sets its target; ``--threads``
to change it), so the ratio is what matters. cachefront answers from its memory tier
(the hot path) with the gate, the inbound limits (set high enough that one client is
not turned away, but counted), metrics and cache headers on; nginx serves the
identical bytes as a static file. Non-2xx answers are counted: a 429 would flatter
the figure.

    python benchmarks/prices_hit_throughput.py [--seconds 10] [--workers 2] [--redis]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from harness import (
    DEFAULT_REDIS_URL,
    bench_database,
    cachefront,
    free_port,
    process,
    wait_http,
    wrk,
)
from hit_throughput import NGINX_CONF

SYMBOL = "BTC"


@contextmanager
def binance_simulator() -> Iterator[str]:
    """The Binance simulator in its own process; yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "cachefront", "simulate", "binance", "--port", str(port)]
    with process(args) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/_stats", proc)
        yield base


def import_assets(env: dict[str, str], rows: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as out:
        out.write("symbol,name,type,provider,provider_id,currency\n" + "\n".join(rows) + "\n")
    subprocess.run(
        [sys.executable, "-m", "cachefront", "assets", "import", out.name],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    Path(out.name).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis", action="store_true", help="Redis tier and limit store")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    args = parser.parse_args()

    with binance_simulator() as sim, bench_database() as db:
        env = {
            "CACHEFRONT_DATABASE_URL": db,
            "CACHEFRONT_BINANCE_URL": sim,
            "CACHEFRONT_PRICES_PROVIDERS": "binance",
            "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
            "CACHEFRONT_RATE_LIMITS": json.dumps({"upstream": "1000000000/minute"}),
        }
        if args.redis:
            env["CACHEFRONT_REDIS_URL"] = os.environ.get(
                "CACHEFRONT_BENCH_REDIS_URL", DEFAULT_REDIS_URL
            )
            env["CACHEFRONT_REDIS_PREFIX"] = f"bench{os.getpid()}"
        with cachefront(env, workers=args.workers) as base:
            import_assets(env, [f"{SYMBOL},Bitcoin,crypto,binance,BTCUSDT,USD"])
            url = f"{base}/v1/prices/{SYMBOL}"
            body = b""
            for _ in range(200):  # warm every worker's memory tier
                body = httpx.get(url).content
            head = httpx.get(url).headers
            assert head["x-cache"] == "memory", head
            assert "ratelimit" in head, "limits must be applied"

            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                root.chmod(0o755)
                (root / "btc.json").write_bytes(body)
                port = free_port()
                conf = root / "nginx.conf"
                conf.write_text(NGINX_CONF.format(workers=args.workers, root=root, port=port))
                nginx = subprocess.Popen(["nginx", "-c", str(conf)])
                try:
                    time.sleep(0.5)
                    theirs = wrk(
                        f"http://127.0.0.1:{port}/btc.json",
                        seconds=args.seconds,
                        threads=args.threads,
                    )
                finally:
                    nginx.terminate()
                    nginx.wait()
            ours = wrk(url, seconds=args.seconds, threads=args.threads)

    print("| server | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("nginx static file", theirs), ("cachefront price memory hit", ours)):
        print(
            f"| {name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.non_2xx} |"
        )
    ratio = ours.requests_per_second / theirs.requests_per_second
    storage = "Redis" if args.redis else "memory"
    print(f"\nratio cachefront / nginx: {ratio:.2f}x (workers={args.workers}, limits in {storage})")


if __name__ == "__main__":
    main()
