"""The direct path: fresh memory hits answered as whole response bytes, before any ASGI.

The server protocol (``direct_protocol.py``) hands a complete GET without a body to
``DirectResponder.respond``; when it returns bytes, they are the whole response and
no ASGI cycle, task, scope or message is made for the request. It returns None for
anything it cannot answer synchronously with the same result as the application —
not a hot route, a miss, a stale entry, a credential not verified lately, a JWT, a
conflicting or unreadable credential, an address throttled for failed logins, a
route the caller may not use, a limit that needs Redis now, a refusal (429) — and the
request then takes the ASGI path unchanged, which answers it.

Nothing here is a rule of its own: the gate's request id, client address, throttle,
access and CORS rules (``GateApp`` and ``access_refusal``), the authenticator's cached
verification (``Authenticator.known``), the limiter's synchronous count
(``InboundLimiter.try_hit``) and the fast path's hit and metrics row
(``fresh_entry`` and ``cache_headers``, as ``memory_hit`` applies them, and
``record_hit``) are called as they are. The steps that cannot be
undone (the limit's count, the request id's counter, the metrics row) run last,
once every check has passed, so a fallback has spent nothing. In json log mode a hit
also gets its access line (``access.py``); in text mode ``access_log`` is None and a
hit pays one attribute test for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from cachefront.cache import CacheEntry, MemoryStore
from cachefront.errors import BadRequestError
from cachefront.http.access import AccessLog
from cachefront.http.fastpath import FastRoute, fresh_entry, record_hit, route_for
from cachefront.http.gate import GateApp, access_refusal
from cachefront.http.wire import (
    X_CACHE_MEMORY,
    Header,
    cache_headers,
    etag_matches,
    if_none_match_of,
    read_head,
)
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.ratelimit import SUCCESS_CHARGED_GROUPS, route_group

__all__ = ["DirectResponder", "attach_responder", "responder_of"]

# The attribute of the outermost ASGI app under which the server finds the responder.
_ATTRIBUTE = "cachefront_direct_responder"
# How deep ``responder_of`` looks through wrappers (uvicorn's own, then ours).
_MAX_DEPTH = 8

_STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 304: b"HTTP/1.1 304 Not Modified\r\n"}
_CLOSE = b"connection: close\r\n\r\n"
# Bound of each cache of rendered header lines; past it, the cache starts over.
_RENDERED_MAX = 4096


class DirectResponder:
    """Answers fresh memory hits of the fast routes as response bytes, else None."""

    def __init__(
        self,
        *,
        gate: GateApp,
        memory: MemoryStore,
        recorder: MetricsRecorder,
        routes: Iterable[FastRoute],
        access_log: AccessLog | None = None,
    ) -> None:
        self.gate = gate
        self.access_log = access_log
        self.memory = memory
        self.recorder = recorder
        self.routes = tuple(routes)
        # What a request's first bytes start with when it may be one of the routes'.
        self.request_prefixes = tuple(b"GET " + r.prefix.encode("ascii") for r in self.routes)
        self.served = 0  # requests answered directly: for tests and debugging
        # The server's default headers (Date, Server) as wire bytes, rebuilt only when
        # the server replaces its list (once a second, for the Date).
        self._server_list: object = None
        self._server_block = b""
        # Header lines rendered once and reused while they stay the same
        # (``_cache_lines``, ``_cors_lines``).
        self._rendered: dict[str, tuple[int, int, float, float, bytes, bytes, bytes]] = {}
        self._cors_rendered: dict[int, tuple[tuple[Header, ...], bytes]] = {}

    def respond(
        self,
        path: str,
        query: bytes,
        headers: list[Header],
        client: tuple[str, int] | None,
        server_headers: list[Header],
        keep_alive: bool,
    ) -> bytes | None:
        """The whole response to ``GET path?query``, or None to take the ASGI path.

        ``headers`` are raw (lowercase names), ``client`` the peer, ``server_headers``
        what the server adds to every response, ``keep_alive`` whether the
        connection stays open after it.
        """
        route = route_for(self.routes, path)
        if route is None:
            return None
        started = time.perf_counter()
        now = time.time()
        gate = self.gate
        head = read_head(headers)
        try:
            credential = head.credential()
        except BadRequestError:
            return None  # the gate's 400
        client_ip = gate.client_ip_of(client, head.forwarded_for)
        if gate.throttled(credential, client_ip):
            return None
        identity = gate.authenticator.known(credential, client_ip)
        if identity is None:
            return None
        group = route_group("GET", path)
        if group in SUCCESS_CHARGED_GROUPS:
            return None  # refunds happen after the answer, on the ASGI path
        if access_refusal(identity.role, group, gate.anon_groups) is not None:
            return None
        entry = fresh_entry(route, self.memory, path, query, now)
        if entry is None:
            return None
        etag, not_modified, full = self._cache_lines(entry, now)
        if_none_match = if_none_match_of(headers)
        if if_none_match is not None and etag_matches(if_none_match, etag):
            status, lines, body = 304, not_modified, b""
        else:
            status, lines, body = 200, full, entry.value
        # Counted only now, when the answer is certain: a fallback has spent nothing.
        verdict = gate.limiter.try_hit(group, identity.limit_key)
        if verdict is None or not verdict.allowed:
            return None  # a refusal does not count, so the gate's own hit decides again
        request_id = gate.request_id(head.request_id)
        # In the order the ASGI path writes them: the server's, the fast path's, the gate's.
        answer = b"".join(
            (
                _STATUS_LINES[status],
                self._server_bytes(server_headers),
                lines,
                b"x-request-id: ",
                request_id,
                b"\r\n",
                _lines(verdict.headers),
                self._cors_lines(gate.cors_headers(head.origin)),
                b"\r\n" if keep_alive else _CLOSE,
                body,
            )
        )
        # The one place a direct answer is finished: what it recorded goes here.
        record_hit(self.recorder, route, status, now, started)
        self.served += 1
        if self.access_log is not None:
            self.access_log.line(
                request_id=request_id.decode("latin-1"),
                method="GET",
                route=route.template,
                path=path,
                query=query,
                status=status,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                tier="memory",
                caller=identity.role.value,
                client=client_ip,
            )
        return answer

    def _cache_lines(self, entry: CacheEntry, now: float) -> tuple[bytes, bytes, bytes]:
        """The entry's ETag and its header lines for a 304 and for a 200, as of ``now``.

        Rendered by ``cache_headers``, as the fast path's, once per entry and second of
        Age and max-age: what they depend on is checked on every use. Keyed by ETag,
        the hash of the body, so the block of one body is never another's.
        """
        age = int(now - entry.stored_at)
        max_age = int(entry.fresh_until - now)
        held = self._rendered.get(entry.etag)
        if (
            held is not None
            and held[0] == age
            and held[1] == max_age
            and held[2] == entry.stored_at
            and held[3] == entry.fresh_until
        ):
            return held[4], held[5], held[6]
        etag = entry.etag.encode()
        answer = cache_headers(
            etag, X_CACHE_MEMORY, stored_at=entry.stored_at, fresh_until=entry.fresh_until, now=now
        )
        not_modified = _lines(answer)
        full = not_modified + _lines(
            ((b"content-type", b"application/json"), (b"content-length", b"%d" % len(entry.value)))
        )
        if len(self._rendered) >= _RENDERED_MAX:
            self._rendered.clear()
        self._rendered[entry.etag] = (
            age,
            max_age,
            entry.stored_at,
            entry.fresh_until,
            etag,
            not_modified,
            full,
        )
        return etag, not_modified, full

    def _cors_lines(self, cors: tuple[Header, ...]) -> bytes:
        # The policy hands out one tuple per allowed origin and one for the rest.
        if not cors:
            return b""
        held = self._cors_rendered.get(id(cors))
        if held is not None and held[0] is cors:
            return held[1]
        if len(self._cors_rendered) >= _RENDERED_MAX:
            self._cors_rendered.clear()
        block = _lines(cors)
        self._cors_rendered[id(cors)] = (cors, block)
        return block

    def _server_bytes(self, server_headers: list[Header]) -> bytes:
        if server_headers is not self._server_list:
            self._server_list = server_headers
            self._server_block = b"".join(
                b"%s: %s\r\n" % (name.lower(), value) for name, value in server_headers
            )
        return self._server_block


def _lines(headers: Iterable[Header]) -> bytes:
    """Header lines on the wire, as uvicorn writes them."""
    return b"".join([b"%s: %s\r\n" % header for header in headers])


def attach_responder(app: object, responder: DirectResponder) -> None:
    """Make ``responder`` findable by the server from ``app``, the app it serves."""
    setattr(app, _ATTRIBUTE, responder)


def responder_of(app: object) -> DirectResponder | None:
    """The responder attached to ``app`` or to an app it wraps (as ``.app``), if any."""
    current: Any = app
    for _ in range(_MAX_DEPTH):
        if current is None:
            return None
        found = getattr(current, _ATTRIBUTE, None)
        if isinstance(found, DirectResponder):
            return found
        current = getattr(current, "app", None)
    return None
