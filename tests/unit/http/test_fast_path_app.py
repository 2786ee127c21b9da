"""The ASGI fast path answers fresh memory hits itself and hands everything else on."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.http.fastpath import FastPathApp
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

QUERY = b"at=2026-11-24T12:00:00Z"
BODY = b'{"body":"mars"}'


class Recorded:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])


def scope(query: bytes = QUERY, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/ephemeris/mars",
        "query_string": query,
        "headers": headers or [],
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.fixture
def parts() -> tuple[FastPathApp, MemoryStore, MetricsRecorder, list[str]]:
    memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
    recorder = MetricsRecorder(None)
    passed: list[str] = []

    async def full_app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])

    app = FastPathApp(
        full_app,
        memory=memory,
        recorder=recorder,
        routes=[EphemerisFastRoute(grid_seconds=3600)],
    )
    return app, memory, recorder, passed


def _store(memory: MemoryStore, fetched_ago: timedelta = timedelta(0)) -> str:
    """Store the mars entry, fetched ``fetched_ago`` ago with a one-hour fresh window."""
    route = EphemerisFastRoute(grid_seconds=3600)
    resolved = route.resolve("/v1/ephemeris/mars", QUERY, time.time())
    assert resolved is not None
    policy = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(days=1))
    entry = make_entry(BODY, policy, now=time.time() - fetched_ago.total_seconds())
    memory.put(*resolved, entry)
    return entry.etag


async def test_fresh_hit_is_answered_with_cache_headers_and_recorded(parts: Any) -> None:
    app, memory, recorder, passed = parts
    etag = _store(memory)
    send = Recorded()
    await app(scope(), receive, send)
    assert passed == []
    assert send.messages[0]["status"] == 200
    assert send.messages[1]["body"] == BODY
    headers = send.headers
    assert headers[b"x-cache"] == b"memory"
    assert headers[b"etag"] == etag.encode()
    assert headers[b"content-length"] == str(len(BODY)).encode()
    assert 3590 <= int(headers[b"cache-control"].split(b"=")[1]) <= 3600
    assert recorder.pending == 1


async def test_matching_etag_gets_304_without_body(parts: Any) -> None:
    app, memory, _, _ = parts
    etag = _store(memory)
    send = Recorded()
    await app(scope(headers=[(b"if-none-match", f'W/"x", {etag}'.encode())]), receive, send)
    assert send.messages[0]["status"] == 304
    assert send.messages[1]["body"] == b""


async def test_misses_and_stale_entries_go_to_the_full_app(parts: Any) -> None:
    app, memory, recorder, passed = parts
    await app(scope(), receive, Recorded())  # miss
    _store(memory, fetched_ago=timedelta(hours=2))  # stale now
    await app(scope(), receive, Recorded())
    await app(scope(query=b"at=garbage"), receive, Recorded())
    assert passed == ["/v1/ephemeris/mars"] * 3
    assert recorder.pending == 0  # the full app records its own requests
