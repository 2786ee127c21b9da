"""A local stand-in for the JPL Horizons API, for tests, benchmarks and outage drills.

``GET /api/horizons.api`` takes the real query parameters and answers in the real
shapes: the JSON envelope (or ``format=text``), the header lines, the column header,
and CSV or fixed-width rows between ``$$SOE`` and ``$$EOE``. Values are computed with
Skyfield and DE421 (the header still says DE441, as the real service does), for
QUANTITIES 1, 20 and 31. Horizons-level refusals answer HTTP 200 with an ``error``
member, like the real API.

Faults are configurable and can change while running: ``latency_ms`` delays every
answer, ``error_rate`` answers that share of requests with HTTP 503, and
``rate_limit_per_minute`` answers 429 with Retry-After past the limit. ``GET /_stats``
counts API requests as they arrive (also by body) and answers by status; ``POST /_reset``
zeroes the counters; ``POST /_config`` changes the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.bodies import Body, body_for_horizons_id
from cachefront.services.ephemeris.providers.local import LocalProvider
from cachefront.simulators._horizons_query import (
    _KNOWN_PARAMETERS,
    _NoMatch,
    _parse_query,
    _Query,
    _Refusal,
    _unquote,
)
from cachefront.simulators._horizons_render import _no_match_text, _render_table

__all__ = ["RunningSimulator", "SimulatorConfig", "create_simulator", "serve"]

API_PATH = "/api/horizons.api"
API_VERSION = "1.2"
SIGNATURE = {"source": "NASA/JPL Horizons API", "version": API_VERSION}


@dataclass
class SimulatorConfig:
    """The faults the simulator injects; all can change at run time through ``/_config``."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_per_minute: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be >= 1, or None for no limit")


@dataclass
class _Stats:
    """``requests`` and ``by_body`` count requests as they arrive (a request still held by
    the latency already counts); ``by_status`` and ``rows`` count answers sent."""

    requests: int = 0
    rows: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_body: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rows": self.rows,
            "by_status": dict(self.by_status),
            "by_body": dict(self.by_body),
        }


class _Simulator:
    """The simulator's state and endpoints; one per app."""

    def __init__(self, config: SimulatorConfig, seed: int | None, provider: LocalProvider) -> None:
        self.config = config
        self.provider = provider
        self._random = random.Random(seed)  # deterministic error injection when seeded
        self._stats = _Stats()
        self._period = 0  # bumped by every reset
        self._accepted: deque[float] = deque()  # monotonic times inside the rate window
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

    async def _delay(self) -> bool:
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

    def _arrived(self, body: str) -> int:
        """Count a request as it arrives; returns the counting period it belongs to."""
        self._stats.requests += 1
        self._stats.by_body[body] += 1
        return self._period

    def _answered(self, period: int, status: int, rows: int = 0) -> None:
        # An answer that outlived a reset (a long latency) belongs to the old period.
        if period == self._period:
            self._stats.by_status[str(status)] += 1
            self._stats.rows += rows

    def _retry_after(self) -> int | None:
        """Seconds until the rate window has room, or None when this request may pass."""
        limit = self.config.rate_limit_per_minute
        now = time.monotonic()
        while self._accepted and now - self._accepted[0] >= 60.0:
            self._accepted.popleft()
        if limit is not None and len(self._accepted) >= limit:
            return max(1, math.ceil(self._accepted[0] + 60.0 - now))
        self._accepted.append(now)
        return None

    async def horizons(self, request: Request) -> Response:
        params = {key: _unquote(value) for key, value in request.query_params.items()}
        body = body_for_horizons_id(params.get("COMMAND", ""))
        period = self._arrived(body.value if body is not None else "unknown")
        response, rows = await self._respond(params)
        self._answered(period, response.status_code, rows)
        return response

    async def _respond(self, params: dict[str, str]) -> tuple[Response, int]:
        """The answer to one API request, and how many table rows it holds."""
        if await self._delay():
            return PlainTextResponse("Service Unavailable: shutting down", status_code=503), 0
        retry_after = self._retry_after()
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return PlainTextResponse("Too Many Requests", status_code=429, headers=headers), 0
        if self._random.random() < self.config.error_rate:
            return PlainTextResponse("Service Unavailable", status_code=503), 0

        output = params.get("format", "json").lower()
        if output not in {"json", "text"}:
            return PlainTextResponse(f"unknown format {output!r}", status_code=400), 0
        unknown = sorted(set(params) - _KNOWN_PARAMETERS)
        if unknown:
            message = f"unknown parameters: {', '.join(unknown)}"
            return PlainTextResponse(message, status_code=400), 0

        as_text = output == "text"
        try:
            query = _parse_query(params)
            result = await asyncio.to_thread(self._compute, query)
        except _Refusal as refusal:
            return self._answer(as_text, error=str(refusal)), 0
        except _NoMatch as no_match:
            return self._answer(as_text, result=_no_match_text(str(no_match))), 0
        rows = (query.stop - query.start) // query.step + 1
        return self._answer(as_text, result=result), rows

    def _compute(self, query: _Query) -> str:
        count = (query.stop - query.start) // query.step + 1
        times = [query.start + index * query.step for index in range(count)]
        try:
            seen = self.provider.observe(query.body, times)
        except InvalidInputError as exc:
            raise _Refusal(exc.detail) from None
        return _render_table(query, seen)

    @staticmethod
    def _answer(as_text: bool, *, result: str | None = None, error: str | None = None) -> Response:
        if as_text:
            prefix = f"API VERSION: {API_VERSION}\nAPI SOURCE: {SIGNATURE['source']}\n\n"
            return PlainTextResponse(prefix + (error if error is not None else result or ""))
        payload: dict[str, Any] = {"signature": SIGNATURE}
        if error is not None:
            payload["error"] = error
        else:
            payload["result"] = result
        return JSONResponse(payload)

    async def stats(self, request: Request) -> Response:
        return JSONResponse({**self._stats.as_dict(), "config": asdict(self.config)})

    async def reset(self, request: Request) -> Response:
        self._stats = _Stats()
        self._period += 1
        self._accepted.clear()
        return await self.stats(request)

    async def configure(self, request: Request) -> Response:
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
            self.config = SimulatorConfig(**{**asdict(self.config), **changes})
        except (TypeError, ValueError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return await self.stats(request)


def create_simulator(
    latency_ms: float = 0,
    error_rate: float = 0.0,
    rate_limit_per_minute: int | None = None,
    seed: int | None = None,
    *,
    provider: LocalProvider | None = None,
) -> Starlette:
    """The simulator as an ASGI app. ``provider`` is closed with the app when not given."""
    config = SimulatorConfig(
        latency_ms=latency_ms, error_rate=error_rate, rate_limit_per_minute=rate_limit_per_minute
    )
    owned = provider is None
    simulator = _Simulator(config, seed, provider or LocalProvider())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        simulator.bind_loop()
        # Load the kernel before the first request rather than during it.
        await asyncio.to_thread(simulator.provider.observe, Body.SUN, [datetime.now(UTC)])
        yield
        if owned:
            simulator.provider.close()

    app = Starlette(
        routes=[
            Route(API_PATH, simulator.horizons, methods=["GET"]),
            Route("/_stats", simulator.stats, methods=["GET"]),
            Route("/_reset", simulator.reset, methods=["POST"]),
            Route("/_config", simulator.configure, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, **config: Any) -> None:
    """Run the simulator under uvicorn until interrupted (``cachefront simulate horizons``)."""
    uvicorn.run(create_simulator(**config), host=host, port=port, log_level="info")


class RunningSimulator:
    """The simulator on a free port of 127.0.0.1, served from a background thread.

    Use as a context manager; ``url`` is the full URL of ``/api/horizons.api``.
    """

    def __init__(self, **config: Any) -> None:
        self._app = create_simulator(**config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        return self.base_url + API_PATH

    def start(self, timeout: float = 30.0) -> None:
        """Serve on a free port; returns once the server accepts connections."""
        # Port 0: the kernel picks a free port when uvicorn binds, so there is no race
        # between choosing a port and taking it.
        config = uvicorn.Config(
            self._app,
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
        self._thread = threading.Thread(target=server.run, name="horizons-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Horizons simulator did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish and wait for its thread."""
        self._app.state.simulator.wake_delayed()
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
        """The counters: ``requests``, ``rows``, ``by_status``, ``by_body`` and ``config``."""
        result: dict[str, Any] = self._call("GET", "/_stats")
        return result

    def reset(self) -> dict[str, Any]:
        """Zero the counters and the rate window."""
        result: dict[str, Any] = self._call("POST", "/_reset")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change ``latency_ms``, ``error_rate`` or ``rate_limit_per_minute`` while running."""
        result: dict[str, Any] = self._call("POST", "/_config", changes)
        return result

    def __enter__(self) -> RunningSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
