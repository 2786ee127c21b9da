"""The hot path: answer memory-tier cache hits straight from ASGI, before any framework code.

A hit costs one resolver call (path and query to a cache key), one dictionary lookup
and one ``send`` of bytes serialized when the entry was stored. Everything else —
misses, errors, other routes, anything unusual — goes to the full application, which
answers the same way, only slower. Metrics and cache headers are applied here too (the
headers and the If-None-Match rule from ``wire.py``, as on the routed path), so the
fast path is not a way around them; CORS, request id and RateLimit headers are
added by the gate in front, to hits and routed answers alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from cachefront.cache import CacheEntry, MemoryStore
from cachefront.http.wire import (
    X_CACHE_MEMORY,
    Header,
    cache_headers,
    etag_matches,
    if_none_match_of,
)
from cachefront.metrics.recorder import MetricsRecorder

__all__ = ["FastPathApp", "FastRoute", "fresh_entry", "memory_hit", "record_hit", "route_for"]


class FastRoute(Protocol):
    """A GET route whose answers are whole cache entries, servable without the framework."""

    prefix: str  # the path prefix that selects this route, e.g. "/v1/ephemeris/"
    template: str  # the route's name in metrics, e.g. "/v1/ephemeris/{body}"

    def resolve(self, path: str, query: bytes, now: float) -> tuple[str, str] | None:
        """The (namespace, key) answering this request, or None to let the app decide."""


_JSON = (b"content-type", b"application/json")


class FastPathApp:
    """ASGI app in front of the full application that serves fresh memory hits itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        memory: MemoryStore,
        recorder: MetricsRecorder,
        routes: Iterable[FastRoute],
    ) -> None:
        self.app = app
        self.memory = memory
        self.recorder = recorder
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            route = route_for(self.routes, scope["path"])
            if route is not None and await self._serve(route, scope, send):
                return
        await self.app(scope, receive, send)

    async def _serve(self, route: FastRoute, scope: Scope, send: Send) -> bool:
        started = time.perf_counter()
        now = time.time()
        hit = memory_hit(
            route, self.memory, scope["path"], scope["query_string"], scope["headers"], now
        )
        if hit is None:
            return False
        status, headers, body = hit
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        record_hit(self.recorder, route, status, now, started)
        return True


def route_for(routes: tuple[FastRoute, ...], path: str) -> FastRoute | None:
    """The fast route whose prefix ``path`` starts with (the first such), or None."""
    for route in routes:
        if path.startswith(route.prefix):
            return route
    return None


def memory_hit(
    route: FastRoute,
    memory: MemoryStore,
    path: str,
    query: bytes,
    headers: Iterable[Header],
    now: float,
) -> tuple[int, list[Header], bytes] | None:
    """``(status, headers, body)`` of a fresh memory hit of ``route``, or None.

    The rule of what a hot-path hit answers: ``fresh_entry`` for which entry, then the
    cache headers of ``wire.py`` and If-None-Match. The server's direct path
    (``direct.py``) applies the same two steps with the header lines rendered once per
    entry and second. Plain and synchronous, with no side effect but the memory tier's
    recency, so a caller may look and then decide to fall back.
    """
    entry = fresh_entry(route, memory, path, query, now)
    if entry is None:
        return None
    etag = entry.etag.encode()
    answer = cache_headers(
        etag, X_CACHE_MEMORY, stored_at=entry.stored_at, fresh_until=entry.fresh_until, now=now
    )
    if_none_match = if_none_match_of(headers)
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return 304, answer, b""
    body = entry.value
    answer.append(_JSON)
    answer.append((b"content-length", b"%d" % len(body)))
    return 200, answer, body


def fresh_entry(
    route: FastRoute, memory: MemoryStore, path: str, query: bytes, now: float
) -> CacheEntry | None:
    """The fresh, positive memory entry answering ``path?query`` on ``route``, or None."""
    resolved = route.resolve(path, query, now)
    if resolved is None:
        return None
    entry = memory.peek(*resolved)
    if entry is None or entry.negative or entry.fresh_until <= now:
        return None  # misses and stale entries take the full path (revalidation, metrics)
    return entry


def record_hit(
    recorder: MetricsRecorder, route: FastRoute, status: int, now: float, started: float
) -> None:
    """The metrics row of a hot-path hit answered ``status``; ``started`` is perf_counter."""
    recorder.hit(route.template, status, (time.perf_counter() - started) * 1000.0, now)
