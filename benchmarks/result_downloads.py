"""Memory of concurrent job-result downloads: the server's RSS before, at peak and after.

One succeeded job with a large result (default 24 MB of CSV-like text) is written
straight into a fresh benchmark database; a `cachefront serve` process (no worker)
then serves N concurrent downloads of it (default 40), each read to the end and
thrown away. The server's RSS is sampled every 20 ms meanwhile.

    cd benchmarks && ../.venv/bin/python result_downloads.py
    # the same against another checkout (its own migrations, its own owner names):
    PYTHONPATH=/path/to/other/src ../.venv/bin/python result_downloads.py --owner alice
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import uuid

import httpx
import jwt
import psutil
import psycopg
from harness import bench_database, cachefront, process

SECRET = "benchmark-jwt-secret-0123456789abcdef0123"  # noqa: S105 (a local benchmark's own)
SUB = "alice"


def _token() -> str:
    now = int(time.time())
    claims = {"sub": SUB, "role": "authenticated", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _content(size: int) -> bytes:
    line = b"2026-01-01T00:00:00Z,mars,250.123456,-22.987654,2.391234567,252.3,-0.6,0.73\n"
    return (line * (size // len(line) + 1))[:size]


def _insert_result(url: str, owner: str, size: int) -> uuid.UUID:
    job_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at, "
            "finished_at, result, result_content_type, result_filename) VALUES "
            "(%s, 'ephemeris-export', %s, '{}', 'succeeded', now(), now(), now(), %s, "
            "'text/csv', 'big.csv')",
            (job_id, owner, _content(size)),
        )
        # Columns a newer schema has (size, expiry) are filled when they exist.
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'"
            )
        }
        if "result_bytes" in columns:
            conn.execute(
                "UPDATE jobs SET result_bytes = octet_length(result), "
                "result_expires_at = now() + interval '1 day' WHERE id = %s",
                (job_id,),
            )
    return job_id


class RssSampler:
    """The peak RSS of a process tree, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        procs = [self.process, *self.process.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _download_all(base: str, path: str, concurrency: int) -> list[int]:
    headers = {"Authorization": f"Bearer {_token()}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=300) as c:

        async def one() -> int:
            received = 0
            async with c.stream("GET", path) as response:
                response.raise_for_status()
                async for chunk in response.aiter_raw():
                    received += len(chunk)
            return received

        return await asyncio.gather(*(one() for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=24.0)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument(
        "--owner", default=f"jwt::{SUB}", help="owner name the server gives the token's caller"
    )
    args = parser.parse_args()
    size = int(args.size_mb * 1_000_000)
    with bench_database() as url:
        env = {
            "CACHEFRONT_DATABASE_URL": url,
            "CACHEFRONT_MIGRATE_ON_START": "false",
            "CACHEFRONT_WORKER_IN_PROCESS": "false",
            "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
            "CACHEFRONT_JWT_SECRET": SECRET,
            "CACHEFRONT_RATE_LIMITS": '{"general": "100000/minute", "jobs": "100000/minute"}',
        }
        with process([sys.executable, "-m", "cachefront", "migrate"], env) as migrate:
            migrate.wait(timeout=120)
        job_id = _insert_result(url, args.owner, size)
        with cachefront(env) as base:
            server_pid = _server_pid(base)
            path = f"/v1/jobs/{job_id}/result"
            sampler = RssSampler(server_pid)
            # One download first, so lazily built things (routes, pools) count in "before".
            asyncio.run(_download_all(base, path, 1))
            before = sampler.rss()
            started = time.monotonic()
            with sampler:
                received = asyncio.run(_download_all(base, path, args.concurrency))
            elapsed = time.monotonic() - started
            after = sampler.rss()
    assert all(r == size for r in received), received
    mib = 1024 * 1024
    print(
        f"{args.concurrency} concurrent downloads of {size / 1e6:.0f} MB in {elapsed:.1f} s: "
        f"RSS before {before / mib:.0f} MiB, peak {sampler.peak / mib:.0f} MiB "
        f"(+{(sampler.peak - before) / mib:.0f} MiB), after {after / mib:.0f} MiB"
    )


def _server_pid(base: str) -> int:
    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        if listening and conn.pid is not None:
            return conn.pid
    raise RuntimeError(f"no process listens on port {port}")


if __name__ == "__main__":
    main()
