"""Whole requests answered by the protocol before httptools: no cycle, one timer, closed on time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from limits import parse
from uvicorn.config import Config
from uvicorn.server import ServerState

from cachefront.auth import Authenticator
from cachefront.cache import CachePolicy, MemoryStore, make_entry
from cachefront.http.direct import DirectResponder, attach_responder
from cachefront.http.fastpath import FastPathApp
from cachefront.http.gate import GateApp
from cachefront.http.server import ConnectionLimits, GuardedHttpProtocol
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

TARGET = b"/v1/ephemeris/mars?at=2026-11-24T12:00:00Z"
REQUEST = b"GET " + TARGET + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Server:
    """A protocol over an in-memory transport, serving a gate with a warm memory hit."""

    def __init__(self, *, keep_alive: float = 5.0) -> None:
        memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
        recorder = MetricsRecorder(None)
        self.fallbacks: list[str] = []

        async def full_app(scope: Any, receive: Any, send: Any) -> None:
            self.fallbacks.append(scope["path"])
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        routes = [EphemerisFastRoute(grid_seconds=3600)]
        gate = GateApp(
            FastPathApp(full_app, memory=memory, recorder=recorder, routes=routes),
            authenticator=Authenticator(service_key=None),
            limiter=InboundLimiter(parse_rate_limits({}), failure_limit=parse("2/minute")),
            anon_groups=("upstream", "general"),
            max_body_bytes=10,
        )
        self.responder = DirectResponder(gate=gate, memory=memory, recorder=recorder, routes=routes)
        attach_responder(gate, self.responder)
        path, _, query = TARGET.decode().partition("?")
        resolved = routes[0].resolve(path, query.encode(), time.time())
        assert resolved is not None
        policy = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(days=1))
        memory.put(*resolved, make_entry(b'{"body":"mars"}', policy, now=time.time()))
        config = Config(gate, lifespan="off", access_log=False, timeout_keep_alive=keep_alive)
        config.load()
        self.state = ServerState()
        self.protocol: Any = GuardedHttpProtocol(
            config=config, server_state=self.state, app_state={}, limits=ConnectionLimits()
        )
        self.transport = Transport()
        self.protocol.connection_made(self.transport)


async def test_a_whole_hit_is_answered_without_a_request_cycle() -> None:
    server = Server()
    server.protocol.data_received(REQUEST)
    assert bytes(server.transport.written).startswith(b"HTTP/1.1 200 OK\r\n")
    assert server.protocol.cycle is None  # httptools never saw it
    assert server.responder.served == 1
    assert server.state.total_requests == 1
    assert server.protocol.timeout_keep_alive_task is None  # no timer of its own
    server.protocol.data_received(REQUEST)
    assert server.responder.served == 2
    assert not server.transport.closed


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    server = Server(keep_alive=0.2)
    for _ in range(3):
        server.protocol.data_received(REQUEST)
        await asyncio.sleep(0.1)  # less than the timeout between requests
    assert not server.transport.closed
    await asyncio.sleep(0.4)
    assert server.transport.closed


async def test_connection_close_closes_after_the_answer() -> None:
    server = Server()
    server.protocol.data_received(REQUEST[:-2] + b"Connection: close\r\n\r\n")
    assert b"connection: close\r\n" in server.transport.written
    assert server.transport.closed


async def test_a_head_in_pieces_and_other_routes_take_the_parser() -> None:
    server = Server()
    server.protocol.data_received(REQUEST[:10])
    server.protocol.data_received(REQUEST[10:])
    assert server.responder.served == 1  # answered directly from the parser's callback
    server.protocol.data_received(b"GET /v1/other HTTP/1.1\r\n\r\n")
    await asyncio.sleep(0.05)
    assert server.fallbacks == ["/v1/other"]
    # After an answer of the ASGI path, a whole hit is again answered before the parser.
    server.protocol.data_received(REQUEST)
    assert server.responder.served == 2
    assert server.protocol.timeout_keep_alive_task is None
