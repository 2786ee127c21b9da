"""ASGI middleware that measures every request answered by the framework routes."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.metrics.context import RequestTally, current_tally
from cachefront.metrics.recorder import MetricsRecorder

__all__ = ["RequestMetricsMiddleware"]


class RequestMetricsMiddleware:
    """Records route, status, latency, cache tier and upstream calls of each request.

    The tier is the response's ``X-Cache``; the upstream calls are counted by the
    recorder the upstream clients were given, against the tally opened here.

    Recording is an append to the recorder's buffer; the database sees the records
    later, in batches.
    """

    def __init__(self, app: ASGIApp, recorder: MetricsRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        arrived = time.time()
        tally = RequestTally()
        token = current_tally.set(tally)
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The tier that answered is what the response tells the client.
                for name, value in message.get("headers", ()):
                    if name == b"x-cache":
                        tally.cache_tier = value.decode("latin-1")
                        break
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            current_tally.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.recorder.request(
                (
                    arrived,
                    scope["method"],
                    template,
                    status,
                    (time.perf_counter() - started) * 1000.0,
                    tally.cache_tier,
                    tally.upstream_calls,
                )
            )
