"""What simulators of an upstream share: faults, counters and the control endpoints.

``latency_ms`` delays every answer, ``error_rate`` answers that share of requests 503;
``GET /_stats`` shows the counters (``stats.py``) and the current config,
``POST /_reset`` zeroes the counters and limits, ``POST /_config`` changes the
settings of a running simulator (validated by the config dataclass).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cachefront.simulators.stats import RequestStats

__all__ = ["MinuteWindow", "SimulatorBase", "bound", "control_routes"]


class MinuteWindow:
    """The requests let through in the last 60 seconds, for a requests-per-minute limit."""

    def __init__(self) -> None:
        self._accepted: deque[float] = deque()  # times (seconds) inside the window

    def retry_after(self, limit: int | None, now: float) -> int | None:
        """Seconds until the window has room (the request is refused), or None when the
        request may pass, which then counts in the window; ``limit`` None: no limit."""
        while self._accepted and now - self._accepted[0] >= 60.0:
            self._accepted.popleft()
        if limit is not None and len(self._accepted) >= limit:
            return max(1, math.ceil(self._accepted[0] + 60.0 - now))
        self._accepted.append(now)
        return None

    def clear(self) -> None:
        self._accepted.clear()


class SimulatorBase:
    """Counters, latency, error injection and run-time configuration of one simulator.

    ``config`` is a dataclass whose ``__post_init__`` validates it; subclasses add
    their endpoints and call ``arrived`` / ``answered`` around each of them. ``by``
    names what requests are counted by (``by_path``...), ``shown`` the extra counters
    that show even while zero.
    """

    def __init__(
        self, config: Any, seed: int | None, *, by: str = "path", shown: tuple[str, ...] = ()
    ) -> None:
        self.config = config
        self._random = random.Random(seed)  # deterministic error injection when seeded
        self.stats = RequestStats(by, shown)
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

    def arrived(self, key: str) -> int:
        """Count a request as it arrives; returns the counting period it belongs to."""
        return self.stats.arrived(key)

    def answered(self, period: int, status: int, **counts: int) -> None:
        self.stats.answered(period, status, **counts)

    def count(self, name: str, amount: int = 1) -> None:
        """Add to an extra counter shown in ``/_stats`` (weight used, crumbs issued...)."""
        self.stats.count(name, amount)

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
        self.stats.reset()
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
