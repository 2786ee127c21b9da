"""Shared pieces of the benchmarks: free ports, a bench database, and processes to run.

Every benchmark runs real processes on 127.0.0.1 only: a simulator (Horizons, or the
OpenAI one behind the AI gateway's settings), one or more `cachefront serve`
processes, and (for the baselines) nginx and wrk.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import jwt
import psycopg

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The credentials of the benchmarks' own gateways: a service key, and the secret and
# audience their users' access tokens are signed for.
SERVICE_KEY = "bench-service-key-" + "x" * 32
JWT_SECRET = "bench-jwt-secret-" + "y" * 32
JWT_AUDIENCE = "authenticated"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on the benchmark PostgreSQL server, dropped afterwards."""
    server = os.environ.get("CACHEFRONT_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"cachefront_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def simulator(
    latency_ms: float = 0, rate_limit: int | None = None, *, name: str = "horizons"
) -> Iterator[str]:
    """``cachefront simulate NAME`` (Horizons unless told) in its own process; its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "cachefront", "simulate", name, "--port", str(port)]
    args += ["--latency-ms", str(latency_ms)]
    if rate_limit:
        args += ["--rate-limit", str(rate_limit)]
    with process(args) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/_stats", proc)
        yield base


def user_token(user: str) -> str:
    """An access token of ``user`` for an hour, signed for the benchmarks' gateways."""
    now = int(time.time())
    claims = {"sub": user, "aud": JWT_AUDIENCE, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def ai_gateway_env(
    sim: str, database_url: str, *, rate_limits: str, users: bool = False
) -> dict[str, str]:
    """Settings of a `cachefront serve` whose AI gateway has the OpenAI simulator at ``sim``
    as its one provider (``sim-small``, alias ``default``), with no worker in it. It takes
    ``SERVICE_KEY``, and with ``users`` the tokens of ``user_token`` too."""
    providers = [
        {
            "name": "sim",
            "base_url": sim + "/v1",
            "api_key": "sk-bench",
            "models": ["sim-small"],
            "aliases": {"default": "sim-small"},
            "budget": "100000000/minute",
        }
    ]
    env = {
        "CACHEFRONT_DATABASE_URL": database_url,
        "CACHEFRONT_MIGRATE_ON_START": "true",
        "CACHEFRONT_SERVICE_KEY": SERVICE_KEY,
        "CACHEFRONT_AI_PROVIDERS": json.dumps(providers),
        "CACHEFRONT_RATE_LIMITS": rate_limits,
        "CACHEFRONT_WORKER_IN_PROCESS": "false",
        "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
    }
    if users:
        env |= {"CACHEFRONT_JWT_SECRET": JWT_SECRET, "CACHEFRONT_JWT_AUDIENCE": JWT_AUDIENCE}
    return env


def simulator_requests(base: str) -> int:
    return int(httpx.get(base + "/_stats", timeout=5).json()["requests"])


@contextmanager
def cachefront(env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """`cachefront serve` in its own process(es); yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "cachefront", "serve", "--port", str(port)]
    args += ["--workers", str(workers)]
    with process(args, {"CACHEFRONT_LOG_LEVEL": "warning", **env}) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health", proc, timeout=180)  # a loaded machine starts slowly
        if workers > 1:
            # /health answers as soon as one worker is up; give the others time to
            # finish starting, or the load goes to the first one alone.
            time.sleep(3 + workers)
        yield base


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str,
    *,
    connections: int = 64,
    threads: int = 2,
    seconds: int = 10,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Run wrk against ``url`` and read its throughput and latency percentiles."""
    header_args = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        [
            "wrk",
            f"-c{connections}",
            f"-t{threads}",
            f"-d{seconds}s",
            "--latency",
            *header_args,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(rps, p50, p99, int(non2xx.group(1)) if non2xx else 0)
