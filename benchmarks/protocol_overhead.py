"""Per-request cost of cachefront's HTTP protocol (slow-client guards) over uvicorn's own.

Feeds the same keep-alive GET, request after request, into uvicorn's HttpToolsProtocol
and into GuardedHttpProtocol (cachefront.http.server) on one connection, with an
in-memory transport and an app that answers pre-built bytes, so that only the
protocols differ. CPU time per request; rounds alternate, the median is printed.

    python benchmarks/protocol_overhead.py [--requests 20000] [--rounds 15]
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
    args = parser.parse_args()
    uvloop.run(main(args.requests, args.rounds))
