"""What both prices simulators share: faults, counters, control endpoints, a test server.

``latency_ms`` delays every answer, ``error_rate`` answers that share of requests 503;
``GET /_stats`` counts requests as they arrive (also by path) and answers by status,
``POST /_reset`` zeroes the counters and limits, ``POST /_config`` changes the settings
of a running simulator. ``RunningServer`` serves an app on a free port of 127.0.0.1
from a background thread, as tests and benchmarks need.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["RunningServer", "SimulatorBase", "Stats", "bound", "control_routes"]


@dataclass
class Stats:
    """``requests`` and ``by_path`` count requests as they arrive; ``by_status`` answers."""

    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    extras: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(self.by_status),
            "by_path": dict(self.by_path),
            **dict(self.extras),
        }


class SimulatorBase:
    """Counters, latency, error injection and run-time configuration of one simulator.

    ``config`` is a dataclass whose ``__post_init__`` validates it; subclasses add
    their endpoints and call ``arrived`` / ``answered`` around each of them.
    """

    def __init__(self, config: Any, seed: int | None) -> None:
        self.config = config
        self._random = random.Random(seed)  # deterministic error injection when seeded
        self.stats = Stats()
        self._period = 0  # bumped by every reset
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()

    def bind_loop(self) -> None:
        """Remember the serving loop (at each start) so other threads can wake delayed requests."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()

    def wake_delayed(self) -> None:
        """From any thread: end every latency wait now (they answer 503), before stopping."""
        if self._loop is None:
            return
        # RuntimeError: the loop has already closed, so no request is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def delay(self) -> bool:
        """Wait the configured latency; True when the simulator is stopping meanwhile."""
        if self._stopping.is_set():
            return True
        if not self.config.latency_ms:
            return False
        try:
            await asyncio.wait_for(self._stopping.wait(), self.config.latency_ms / 1000.0)
        except TimeoutError:
            return False
        return True

    def arrived(self, path: str) -> int:
        """Count a request as it arrives; returns the counting period it belongs to."""
        self.stats.requests += 1
        self.stats.by_path[path] += 1
        return self._period

    def answered(self, period: int, status: int) -> None:
        # An answer that outlived a reset (a long latency) belongs to the old period.
        if period == self._period:
            self.stats.by_status[str(status)] += 1

    def count(self, name: str, amount: int = 1) -> None:
        """Add to an extra counter shown in ``/_stats`` (weight used, crumbs issued...)."""
        self.stats.extras[name] += amount

    def injected_error(self) -> bool:
        rate: float = self.config.error_rate
        return self._random.random() < rate

    def reset_limits(self) -> None:
        """Forget rate windows and bans; subclasses with limits override it."""

    def describe(self) -> dict[str, Any]:
        """Extra state for ``/_stats`` (current weight, ban...)."""
        return {}

    async def stats_endpoint(self, request: Request) -> Response:
        return JSONResponse(
            {**self.stats.as_dict(), **self.describe(), "config": asdict(self.config)}
        )

    async def reset_endpoint(self, request: Request) -> Response:
        self.stats = Stats()
        self._period += 1
        self.reset_limits()
        return await self.stats_endpoint(request)

    async def config_endpoint(self, request: Request) -> Response:
        try:
            changes = await request.json()
        except ValueError:
            return PlainTextResponse("body must be a JSON object", status_code=400)
        if not isinstance(changes, dict):
            return PlainTextResponse("body must be a JSON object", status_code=400)
        unknown = sorted(set(changes) - set(asdict(self.config)))
        if unknown:
            return PlainTextResponse(f"unknown settings: {', '.join(unknown)}", status_code=400)
        try:
            self.config = replace(self.config, **changes)
        except (TypeError, ValueError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return await self.stats_endpoint(request)


def control_routes(simulator: SimulatorBase) -> list[Route]:
    return [
        Route("/_stats", simulator.stats_endpoint, methods=["GET"]),
        Route("/_reset", simulator.reset_endpoint, methods=["POST"]),
        Route("/_config", simulator.config_endpoint, methods=["POST"]),
    ]


def bound(
    simulator: SimulatorBase,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan binding ``simulator`` to the loop that serves it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        simulator.bind_loop()
        yield

    return lifespan


class RunningServer:
    """A simulator app on a free port of 127.0.0.1, served from a background thread.

    Use as a context manager; ``base_url`` is ``http://127.0.0.1:PORT``.
    """

    def __init__(self, app: Starlette, name: str) -> None:
        self.app = app
        self._name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def simulator(self) -> Any:
        return self.app.state.simulator

    def start(self, timeout: float = 30.0) -> None:
        """Serve on a free port; returns once the server accepts connections."""
        # Port 0: the kernel picks a free port when uvicorn binds, so there is no race
        # between choosing a port and taking it.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",
            ws="none",
            # Requests held by a long configured latency must not hold up stopping.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name=self._name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self._name} did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish and wait for its thread."""
        self.simulator.wake_delayed()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, self.base_url + path, json=payload, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """The counters: ``requests``, ``by_status``, ``by_path``, extras and ``config``."""
        result: dict[str, Any] = self._call("GET", "/_stats")
        return result

    def reset(self) -> dict[str, Any]:
        """Zero the counters and the rate windows."""
        result: dict[str, Any] = self._call("POST", "/_reset")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings of the running simulator (``latency_ms``, ``error_rate``...)."""
        result: dict[str, Any] = self._call("POST", "/_config", changes)
        return result

    def __enter__(self) -> RunningServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
