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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from cachefront.app import create_app
from cachefront.config import Settings
from cachefront.simulators.horizons import RunningSimulator


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
    """A cachefront app under uvicorn in a background thread."""

    def __init__(self, settings: Settings, app: ASGIApp | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app if app is not None else create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
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
    """The CACHEFRONT_* variables that reproduce ``settings`` in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
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
