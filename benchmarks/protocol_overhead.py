"""Per-request cost of cachefront's HTTP protocol (slow-client guards) over uvicorn's own.

Feeds the same keep-alive GET, request after request, into uvicorn's HttpToolsProtocol
and into GuardedHttpProtocol (cachefront.http.server) on one connection, with an
in-memory transport and an app that answers pre-built bytes, so that only the
protocols differ. CPU time per request; rounds alternate, the median is printed.

``--direct`` measures a direct hit instead: GuardedHttpProtocol in front of the gate,
fast path and direct responder, a warm memory hit, limits counted in memory (best
and median of the rounds). ``--direct --count N`` feeds N requests once and prints
nothing: run it under ``valgrind --tool=callgrind`` with N and with 0, and the
difference of the instruction totals over N is the instructions per request.

    python benchmarks/protocol_overhead.py [--requests 20000] [--rounds 15]
    python benchmarks/protocol_overhead.py --direct [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from cachefront.http.server import ConnectionLimits, GuardedHttpProtocol

REQUEST = b"GET /v1/ephemeris/mars?at=2026-11-24T12:00:00Z HTTP/1.1\r\nHost: b\r\n\r\n"
BODY = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]}
    )
    await send({"type": "http.response.body", "body": BODY})


class MemoryTransport(asyncio.Transport):
    """Accepts writes and drops them; says it is a TCP connection on loopback."""

    def __init__(self) -> None:
        super().__init__()
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def per_request_us(kind: type[asyncio.Protocol], requests: int, **kwargs: Any) -> float:
    config = Config(app, lifespan="off", access_log=False)
    config.load()
    protocol: Any = kind(config=config, server_state=ServerState(), app_state={}, **kwargs)
    protocol.connection_made(MemoryTransport())
    for _ in range(1000):  # warm up
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)  # let the request's task run
    return (time.process_time() - started) / requests * 1e6


def direct_app() -> Any:
    """The gate, fast path and direct responder over a memory tier holding one hit."""
    from datetime import timedelta

    from limits import parse

    from cachefront.auth import Authenticator
    from cachefront.cache import CachePolicy, MemoryStore, make_entry
    from cachefront.http.cors import CorsPolicy
    from cachefront.http.direct import DirectResponder, attach_responder
    from cachefront.http.fastpath import FastPathApp
    from cachefront.http.gate import GateApp
    from cachefront.metrics.recorder import MetricsRecorder
    from cachefront.ratelimit import InboundLimiter, parse_rate_limits
    from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

    memory = MemoryStore(max_bytes=1 << 20, max_entry_bytes=1 << 16)
    recorder = MetricsRecorder(None)
    routes = [EphemerisFastRoute(grid_seconds=3600)]
    gate = GateApp(
        FastPathApp(app, memory=memory, recorder=recorder, routes=routes),
        authenticator=Authenticator(service_key=None),
        limiter=InboundLimiter(
            parse_rate_limits({"upstream": "1000000000/minute"}), failure_limit=parse("2/minute")
        ),
        anon_groups=("upstream", "general"),
        max_body_bytes=10,
        cors=CorsPolicy(["https://app.example"]),
    )
    attach_responder(
        gate, DirectResponder(gate=gate, memory=memory, recorder=recorder, routes=routes)
    )
    path, _, query = REQUEST.split(b" ")[1].decode().partition("?")
    resolved = routes[0].resolve(path, query.encode(), time.time())
    assert resolved is not None
    policy = CachePolicy(fresh_for=timedelta(hours=1), stale_for=timedelta(days=1))
    memory.put(*resolved, make_entry(BODY * 25, policy, now=time.time()))
    return gate


def direct_us(requests: int) -> float:
    """CPU time per direct hit fed to GuardedHttpProtocol (no event loop turn needed)."""
    config = Config(direct_app(), lifespan="off", access_log=False)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Tue, 01 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
    protocol: Any = GuardedHttpProtocol(
        config=config, server_state=state, app_state={}, limits=ConnectionLimits()
    )
    protocol.connection_made(MemoryTransport())
    for _ in range(1000):  # warm up
        protocol.data_received(REQUEST)
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
    assert protocol._direct.served == requests + 1000, "every request must be a direct hit"
    return (time.process_time() - started) / max(requests, 1) * 1e6


async def direct_main(requests: int, rounds: int, count: int | None) -> None:
    if count is not None:
        direct_us(count)
        return
    times = [direct_us(requests) for _ in range(rounds)]
    print(
        f"direct hit through GuardedHttpProtocol: best {min(times):.2f} us/request, "
        f"median {statistics.median(times):.2f} (of {rounds})"
    )


async def main(requests: int, rounds: int) -> None:
    plain: list[float] = []
    guarded: list[float] = []
    for _ in range(rounds):
        plain.append(await per_request_us(HttpToolsProtocol, requests))
        guarded.append(
            await per_request_us(GuardedHttpProtocol, requests, limits=ConnectionLimits())
        )
    a, b = statistics.median(plain), statistics.median(guarded)
    print(f"uvicorn HttpToolsProtocol: {a:.2f} us/request (median of {rounds})")
    print(f"GuardedHttpProtocol:       {b:.2f} us/request")
    print(f"added per request:         {b - a:+.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--direct", action="store_true", help="measure a direct hit")
    parser.add_argument("--count", type=int, help="with --direct: feed N requests, once")
    args = parser.parse_args()
    if args.direct:
        uvloop.run(direct_main(args.requests, args.rounds, args.count))
    else:
        uvloop.run(main(args.requests, args.rounds))
