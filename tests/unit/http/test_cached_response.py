"""Routed answers from cache entries carry the hot path's headers and its 304 rule."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import Request

from cachefront.cache import CacheEntry, CachePolicy, MemoryStore, Tier, make_entry
from cachefront.http.fastpath import FastPathApp
from cachefront.http.responses import cached_response
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

PATH = "/v1/ephemeris/mars"
QUERY = b"at=2026-11-24T12:00:00Z"
BODY = b'{"body":"mars"}'


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": PATH, "query_string": QUERY, "headers": headers}
    )


async def _hot(memory: MemoryStore, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("a hit reads no body")

    async def full_app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the hit should have been served by the hot path")

    app = FastPathApp(
        full_app,
        memory=memory,
        recorder=MetricsRecorder(None),
        routes=[EphemerisFastRoute(grid_seconds=3600)],
    )
    scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "query_string": QUERY,
        "headers": headers,
    }
    await app(scope, receive, send)
    return {"status": sent[0]["status"], "headers": sent[0]["headers"], "body": sent[1]["body"]}


def _entry_in(memory: MemoryStore) -> CacheEntry:
    """The mars entry, fetched 30 s ago, put where the hot path finds it."""
    policy = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(days=1))
    entry = make_entry(BODY, policy, now=time.time() - 30)
    resolved = EphemerisFastRoute(grid_seconds=3600).resolve(PATH, QUERY, time.time())
    assert resolved is not None
    memory.put(*resolved, entry)
    return entry


def _routed(entry: CacheEntry, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    response = cached_response(
        _request(headers),
        body=entry.value,
        etag=entry.etag,
        tier=Tier.MEMORY,
        stored_at=entry.stored_at,
        fresh_until=entry.fresh_until,
    )
    return {"status": response.status_code, "headers": response.raw_headers, "body": response.body}


async def test_routed_and_hot_answers_of_one_entry_have_the_same_headers() -> None:
    memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
    entry = _entry_in(memory)
    hot, routed = await _hot(memory, []), _routed(entry, [])
    assert hot["status"] == routed["status"] == 200
    assert hot["body"] == routed["body"] == BODY
    assert sorted(hot["headers"]) == sorted(routed["headers"])
    assert dict(routed["headers"])[b"age"] == b"30"  # since the fetch, on both


async def test_routed_and_hot_paths_answer_304_to_the_same_if_none_match() -> None:
    memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
    entry = _entry_in(memory)
    etag = entry.etag.encode()
    # The ETag in a second field line, weak: the list rule applies across lines.
    asked = [(b"if-none-match", b'"other"'), (b"if-none-match", b"W/" + etag)]
    hot, routed = await _hot(memory, asked), _routed(entry, asked)
    assert hot["status"] == routed["status"] == 304
    assert hot["body"] == routed["body"] == b""
    assert sorted(hot["headers"]) == sorted(routed["headers"])
    assert b"content-length" not in dict(routed["headers"])
    not_it = [(b"if-none-match", b'"other"')]
    assert (await _hot(memory, not_it))["status"] == _routed(entry, not_it)["status"] == 200
