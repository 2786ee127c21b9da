"""Test servers for every test folder: cachefront in a thread or a process, the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.types import ASGIApp

from cachefront.app import create_app
from cachefront.config import Settings
from cachefront.simulators.horizons import RunningSimulator

try:
    from cachefront.http.server import uvicorn_options
except ModuleNotFoundError:  # pragma: no cover
    # Regression tests are also run against the code from before the connection limits
    # existed, to see them fail there; the other tests must still be able to start.
    def uvicorn_options(settings: Settings) -> dict[str, Any]:
        return {"access_log": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Simulator:
    """The running Horizons simulator, with helpers to read and change it."""

    def __init__(self, running: RunningSimulator) -> None:
        self.running = running
        self.url: str = running.url
        self.base = self.url.removesuffix("/api/horizons.api")

    def requests(self) -> int:
        return int(httpx.get(self.base + "/_stats", timeout=5).json()["requests"])

    def reset(self) -> None:
        httpx.post(self.base + "/_reset", timeout=5).raise_for_status()

    def configure(self, **config: Any) -> None:
        httpx.post(self.base + "/_config", json=config, timeout=5).raise_for_status()


class ServerThread:
    """A cachefront app under uvicorn in a background thread, with the uvicorn options
    (protocol, connection limits) of `cachefront serve`."""

    def __init__(self, settings: Settings, app: ASGIApp | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app if app is not None else create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **uvicorn_options(settings),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("cachefront test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def spawn_server(
    env: dict[str, str], *, log_level: str = "warning", stderr_out: list[str] | None = None
) -> Iterator[str]:
    """``cachefront serve`` in its own OS process; yields its base URL.

    Its stderr goes to a file (a pipe nobody reads could fill and stall the server);
    ``stderr_out`` receives it once the process has ended.
    """
    port = free_port()
    full_env = {**os.environ, **env, "CACHEFRONT_LOG_LEVEL": log_level}
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cachefront", "serve", "--port", str(port)],
            env=full_env,
            cwd=Path(__file__).parent,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )

        def stderr_text() -> str:
            err_file.seek(0)
            return err_file.read().decode(errors="replace")

        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"cachefront serve did not start: {stderr_text()[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if stderr_out is not None:
                stderr_out.append(stderr_text())


def settings_env(settings: Settings) -> dict[str, str]:
    """The CACHEFRONT_* variables that reproduce ``settings`` (every room's) in another process."""
    env: dict[str, str] = {}
    values = {
        name: value
        for part in (settings, *settings.rooms)
        for name, value in part.model_dump().items()
    }
    for name, value in values.items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(value)
        if isinstance(value, dict):
            value = json.dumps(value)
        env[f"CACHEFRONT_{name.upper()}"] = str(value)
    return env


class JwksServer:
    """A real local HTTP server publishing one fresh RSA signing key (kid ``k1``) as a JWKS."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        payload = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass  # keep test output to what the tests print

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        self._httpd = HTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def sign(self, claims: dict[str, Any]) -> str:
        """An RS256 token over ``claims`` with this server's key."""
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": "k1"})

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the identity provider down (idempotent)."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_settings(values: dict[str, Any]) -> Settings:
    """Settings for a server under test from ``values`` (which name ``database_url`` and
    ``horizons_url``) over the shared test defaults: no Redis, fresh Redis keys should a
    test add one, quick retries and flushes, no .env file."""
    defaults: dict[str, Any] = {
        "redis_url": None,
        "redis_prefix": f"cft{uuid.uuid4().hex[:10]}",
        "migrate_on_start": False,
        "upstream_backoff_seconds": 0.05,
        "horizons_budget": "10000/minute",
        "metrics_flush_seconds": 0.2,
    }
    return Settings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]
