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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
from cachefront.simulators.base import MinuteWindow, SimulatorBase, control_routes
from cachefront.simulators.running import RunningServer

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


class _Simulator(SimulatorBase):
    """The simulator's state and endpoints; one per app."""

    def __init__(self, config: SimulatorConfig, seed: int | None, provider: LocalProvider) -> None:
        # ``rows`` counts the table rows of answers sent, ``by_body`` requests as they arrive.
        super().__init__(config, seed, by="body", shown=("rows",))
        self.provider = provider
        self._window = MinuteWindow()

    def reset_limits(self) -> None:
        self._window.clear()

    async def horizons(self, request: Request) -> Response:
        params = {key: _unquote(value) for key, value in request.query_params.items()}
        body = body_for_horizons_id(params.get("COMMAND", ""))
        period = self.arrived(body.value if body is not None else "unknown")
        response, rows = await self._respond(params)
        self.answered(period, response.status_code, rows=rows)
        return response

    async def _respond(self, params: dict[str, str]) -> tuple[Response, int]:
        """The answer to one API request, and how many table rows it holds."""
        if await self.delay():
            return PlainTextResponse("Service Unavailable: shutting down", status_code=503), 0
        retry_after = self._window.retry_after(self.config.rate_limit_per_minute, time.monotonic())
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return PlainTextResponse("Too Many Requests", status_code=429, headers=headers), 0
        if self.injected_error():
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
            *control_routes(simulator),
        ],
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, **config: Any) -> None:
    """Run the simulator under uvicorn until interrupted (``cachefront simulate horizons``)."""
    uvicorn.run(create_simulator(**config), host=host, port=port, log_level="info")


class RunningSimulator(RunningServer):
    """The simulator on a free port of 127.0.0.1, served from a background thread.

    Use as a context manager; ``url`` is the full URL of ``/api/horizons.api``.
    ``stats()`` shows ``requests``, ``rows``, ``by_status``, ``by_body`` and ``config``;
    ``configure`` changes ``latency_ms``, ``error_rate`` or ``rate_limit_per_minute``.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__(create_simulator(**config), "horizons-simulator")

    @property
    def url(self) -> str:
        return self.base_url + API_PATH
