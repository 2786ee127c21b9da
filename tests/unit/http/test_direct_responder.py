"""The direct responder: whole-response bytes for what the gate and fast path would answer."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from limits import parse

from cachefront.auth import Authenticator
from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.http.cors import CorsPolicy
from cachefront.http.direct import DirectResponder, attach_responder, responder_of
from cachefront.http.fastpath import FastPathApp
from cachefront.http.gate import GateApp
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

PATH = "/v1/ephemeris/mars"
QUERY = b"at=2026-11-24T12:00:00Z"
BODY = b'{"body":"mars"}'
SERVICE_KEY = "service-key-for-direct-responder-tests"
ORIGIN = b"https://app.example"
SERVER = [(b"date", b"Tue, 01 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
PEER = ("192.0.2.1", 5000)
Headers = list[tuple[bytes, bytes]]


class Parts:
    """A responder and the ASGI gate + fast path it answers for, sharing every object."""

    def __init__(self, *, limits: dict[str, str] | None = None) -> None:
        self.memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
        self.recorder = MetricsRecorder(None)
        self.fallbacks: list[str] = []

        async def full_app(scope: Any, receive: Any, send: Any) -> None:
            self.fallbacks.append(scope["path"])
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        routes = [EphemerisFastRoute(grid_seconds=3600)]
        fast = FastPathApp(full_app, memory=self.memory, recorder=self.recorder, routes=routes)
        self.gate = GateApp(
            fast,
            authenticator=Authenticator(service_key=SERVICE_KEY),
            limiter=InboundLimiter(
                parse_rate_limits(limits or {}), failure_limit=parse("2/minute")
            ),
            anon_groups=("upstream", "general"),
            max_body_bytes=10,
            cors=CorsPolicy([ORIGIN.decode()]),
        )
        self.responder = DirectResponder(
            gate=self.gate, memory=self.memory, recorder=self.recorder, routes=routes
        )

    def store(self, *, fetched_ago: float = 0.0, fresh_for: float = 3600.0) -> str:
        resolved = EphemerisFastRoute(grid_seconds=3600).resolve(PATH, QUERY, time.time())
        assert resolved is not None
        policy = CachePolicy(fresh_for=timedelta(seconds=fresh_for), stale_for=timedelta(days=1))
        entry = make_entry(BODY, policy, now=time.time() - fetched_ago)
        self.memory.put(*resolved, entry)
        return entry.etag

    def respond(
        self, headers: Headers | None = None, *, path: str = PATH, keep_alive: bool = True
    ) -> bytes | None:
        return self.responder.respond(path, QUERY, headers or [], PEER, SERVER, keep_alive)

    async def asgi(self, headers: Headers | None = None) -> tuple[int, Headers, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": PATH,
            "query_string": QUERY,
            "client": PEER,
            "headers": headers or [],
        }
        await self.gate(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return sent[0]["status"], list(sent[0]["headers"]), body


def parse_answer(raw: bytes) -> tuple[bytes, Headers, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [(n, v) for n, _, v in (line.partition(b": ") for line in lines[1:])]
    return lines[0], headers, body


def _without_id(headers: Headers) -> Headers:
    return [(n, b"*" if n == b"x-request-id" else v) for n, v in headers]


async def test_a_fresh_hit_is_the_asgi_answer_as_bytes() -> None:
    parts, twin = Parts(), Parts()  # in the same state: one answers directly, one by ASGI
    parts.store()
    twin.store()
    raw = parts.respond([(b"origin", ORIGIN)])
    assert raw is not None
    status_line, headers, body = parse_answer(raw)
    status, asgi_headers, asgi_body = await twin.asgi([(b"origin", ORIGIN)])
    assert status_line == b"HTTP/1.1 200 OK"
    assert status == 200
    assert body == asgi_body == BODY
    # The server's headers first, then exactly what the ASGI path sends, in its order.
    assert headers[:2] == SERVER
    assert _without_id(headers[2:]) == _without_id(asgi_headers)
    assert parts.fallbacks == twin.fallbacks == []
    assert parts.responder.served == 1
    assert parts.recorder.pending == twin.recorder.pending == 1


async def test_the_request_counts_once_per_answer() -> None:
    parts = Parts(limits={"upstream": "10/minute"})
    parts.store()
    remaining = []
    for _ in range(3):
        raw = parts.respond()
        assert raw is not None
        ratelimit = dict(parse_answer(raw)[1])[b"ratelimit"]
        remaining.append(int(ratelimit.split(b";r=")[1].split(b";")[0]))
    assert remaining == [9, 8, 7]


async def test_a_miss_or_stale_entry_falls_back_without_spending() -> None:
    parts = Parts(limits={"upstream": "10/minute"})
    assert parts.respond() is None  # nothing stored
    parts.store(fetched_ago=7200.0)  # fresh for one hour, two hours ago
    assert parts.respond() is None
    parts.store()
    raw = parts.respond()
    assert raw is not None
    assert b'"upstream";r=9;' in raw  # the fallbacks spent nothing
    assert parts.respond(path="/v1/health") is None


async def test_if_none_match_gives_304_without_a_body() -> None:
    parts = Parts()
    etag = parts.store()
    raw = parts.respond([(b"if-none-match", etag.encode())])
    assert raw is not None
    status_line, headers, body = parse_answer(raw)
    assert status_line == b"HTTP/1.1 304 Not Modified"
    assert body == b""
    assert b"content-length" not in dict(headers)


async def test_service_key_is_direct_and_unverified_credentials_fall_back() -> None:
    parts = Parts()
    parts.store()
    assert parts.respond([(b"authorization", b"Bearer " + SERVICE_KEY.encode())]) is not None
    fallbacks = [
        [(b"authorization", b"Bearer cf_AAAAAAAA_" + b"B" * 32)],  # not verified lately
        [(b"authorization", b"Bearer a.b.c")],  # a JWT
        [(b"authorization", b"Basic dXNlcjpwYXNz")],  # not a credential we know
        [(b"apikey", b"one"), (b"apikey", b"two")],  # conflicting: the gate's 400
    ]
    for headers in fallbacks:
        assert parts.respond(headers) is None, headers
    assert parts.responder.served == 1


async def test_a_refusal_is_left_to_the_gate() -> None:
    parts = Parts(limits={"upstream": "1/minute"})
    parts.store()
    assert parts.respond() is not None
    assert parts.respond() is None
    status, _, _ = await parts.asgi()
    assert status == 429


async def test_a_connection_not_kept_alive_is_told_so() -> None:
    parts = Parts()
    parts.store()
    raw = parts.respond(keep_alive=False)
    assert raw is not None
    assert (b"connection", b"close") in parse_answer(raw)[1]
    kept = parts.respond()
    assert kept is not None
    assert b"connection: close" not in kept


async def test_the_server_headers_follow_the_servers_list() -> None:
    parts = Parts()
    parts.store()
    later = [(b"date", b"Tue, 01 Dec 2026 12:00:01 GMT"), (b"server", b"uvicorn")]
    first = parts.respond()
    second = parts.responder.respond(PATH, QUERY, [], PEER, later, True)
    assert first is not None
    assert second is not None
    assert b"12:00:00 GMT" in first
    assert b"12:00:01 GMT" in second


def test_the_responder_is_found_through_wrappers() -> None:
    parts = Parts()

    class Wrapper:
        def __init__(self, app: object) -> None:
            self.app = app

    outer = Wrapper(Wrapper(parts.gate))
    assert responder_of(outer) is None
    attach_responder(outer.app, parts.responder)
    assert responder_of(outer) is parts.responder
