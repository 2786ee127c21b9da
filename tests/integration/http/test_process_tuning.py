"""The collector tuning belongs to `cachefront serve`'s worker processes, not to the app."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from cachefront.app import create_app
from cachefront.config import Settings
from cachefront.http.tuning import GC_THRESHOLD

_SENTINEL = (1234, 11, 12)


async def _run_lifespan(app: Any) -> None:
    """Start the app's lifespan, then stop it, as a server would."""
    sent: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for message in ("lifespan.startup", "lifespan.shutdown"):
        sent.put_nowait({"type": message})
    answers: list[str] = []

    async def receive() -> dict[str, str]:
        return await sent.get()

    async def send(message: dict[str, Any]) -> None:
        answers.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_running_the_app_leaves_the_collector_alone(
    settings_for: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The freeze count alone cannot tell: frozen objects that die during the run lower it.
    freezes: list[None] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(None))
    before = gc.get_threshold()
    gc.set_threshold(*_SENTINEL)
    try:
        await _run_lifespan(create_app(settings_for()))
        assert gc.get_threshold() == _SENTINEL
        assert freezes == []
    finally:
        gc.set_threshold(*before)


def test_a_server_worker_tunes_its_own_process() -> None:
    # In a process of its own: the tuning is process-wide by design.
    script = textwrap.dedent(
        """
        import asyncio, gc, socket, threading, time
        import uvicorn
        from cachefront.config import Settings
        from cachefront.http.server import uvicorn_options

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})

        before = gc.get_threshold()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                **uvicorn_options(Settings(database_url="postgresql://x/y")))
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        started = gc.get_threshold() == before
        socket.create_connection(("127.0.0.1", port)).close()
        while gc.get_threshold() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        print(started, gc.get_threshold(), gc.get_freeze_count() > 0)
        server.should_exit = True
        thread.join(10)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    # Untouched until the server ran, tuned once a connection came.
    assert done.stdout.split("\n")[0] == f"True {GC_THRESHOLD} True"
