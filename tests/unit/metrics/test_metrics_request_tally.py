"""Per-request counting lives in the metrics: calls via the recorder, the tier via X-Cache."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope, Send

from cachefront.cache.background import background_context
from cachefront.http.middleware import RequestMetricsMiddleware
from cachefront.metrics.context import RequestTally, current_tally
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.upstream.records import UpstreamCallRecord

CALL = UpstreamCallRecord(
    ts=0.0,
    provider="p",
    method="GET",
    url="http://p/",
    status=200,
    latency_ms=1.0,
    attempts=1,
    outcome="ok",
    priority="user",
)


def test_a_recorded_call_counts_against_the_current_request() -> None:
    recorder = MetricsRecorder(None)
    tally = RequestTally()
    token = current_tally.set(tally)
    try:
        recorder.record_upstream(CALL)
        recorder.record_upstream(CALL)
    finally:
        current_tally.reset(token)
    assert tally.upstream_calls == 2
    assert recorder.pending == 2


def test_a_call_made_in_the_caches_background_counts_against_no_request() -> None:
    recorder = MetricsRecorder(None)
    tally = RequestTally()
    token = current_tally.set(tally)
    try:
        background_context().run(recorder.record_upstream, CALL)
    finally:
        current_tally.reset(token)
    assert tally.upstream_calls == 0
    assert recorder.pending == 1  # still recorded, just not charged to the request


def _app(
    headers: list[tuple[bytes, bytes]], action: Callable[[], None]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        action()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def _serve(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> MetricsRecorder:
    recorder = MetricsRecorder(None)
    middleware = RequestMetricsMiddleware(app, recorder)
    scope: Scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}

    async def receive() -> Message:
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b""}

    async def send(_: Message) -> None:
        return None

    await middleware(scope, receive, send)
    return recorder


async def test_the_request_row_takes_the_tier_from_x_cache_and_counts_calls() -> None:
    probe = MetricsRecorder(None)  # what an upstream client of this app would report to
    app = _app([(b"x-cache", b"redis")], lambda: probe.record_upstream(CALL))
    recorder = await _serve(app)
    ((_, method, route, status, _, tier, calls),) = recorder._requests
    assert (method, route, status, tier, calls) == ("GET", "unmatched", 200, "redis", 1)


async def test_a_response_without_x_cache_has_no_tier() -> None:
    recorder = await _serve(_app([(b"content-type", b"application/json")], lambda: None))
    ((*_, tier, calls),) = recorder._requests
    assert (tier, calls) == (None, 0)
