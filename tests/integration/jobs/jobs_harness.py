"""Helpers for job tests: an app server in a thread, worker processes, and polling."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import uvicorn
from sqlalchemy.engine import make_url

from cachefront.app import create_app
from cachefront.config import Settings
from cachefront.simulators.horizons import RunningSimulator

T = TypeVar("T")

# Job routes need a caller: tests sign access tokens with this HS256 secret.
JWT_SECRET = "jwt-secret-for-job-tests-0123456789abcdef"
JWT_AUDIENCE = "authenticated"


def user_headers(sub: str) -> dict[str, str]:
    """The Authorization header of user ``sub``, valid for a few minutes."""
    now = int(time.time())
    claims = {"sub": sub, "aud": JWT_AUDIENCE, "role": "authenticated", "iat": now}
    token = jwt.encode({**claims, "exp": now + 600}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(probe: Callable[[], T | None], *, timeout: float = 60.0, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


class AppThread:
    """A cachefront app under uvicorn in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> AppThread:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), timeout=30)
        if not self.server.started:
            raise RuntimeError("cachefront test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def settings_env(settings: Settings) -> dict[str, str]:
    """The CACHEFRONT_* variables that reproduce ``settings`` in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        env[f"CACHEFRONT_{name.upper()}"] = str(value)
    return env


def spawn_worker(settings: Settings, *, concurrency: int = 2) -> subprocess.Popen[bytes]:
    """``cachefront worker`` in its own process, configured like ``settings``."""
    env = {**os.environ, **settings_env(settings), "CACHEFRONT_LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [sys.executable, "-m", "cachefront", "worker", "--concurrency", str(concurrency)],
        env=env,
        cwd=Path(__file__).parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> str:
    """Stop the worker; its stderr, for failure messages."""
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace") if err else ""


def json_of(response: Any) -> Any:
    return response.json()


class JobsSimulator:
    """The running Horizons simulator, with helpers to read and change it."""

    def __init__(self, running: RunningSimulator) -> None:
        self.url: str = running.url
        self.base = self.url.removesuffix("/api/horizons.api")

    def requests(self) -> int:
        return int(httpx.get(self.base + "/_stats", timeout=5).json()["requests"])

    def reset(self) -> None:
        httpx.post(self.base + "/_reset", timeout=5).raise_for_status()

    def configure(self, **config: Any) -> None:
        httpx.post(self.base + "/_config", json=config, timeout=5).raise_for_status()


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
