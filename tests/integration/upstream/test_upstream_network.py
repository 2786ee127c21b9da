"""The network transport against raw TCP servers that misbehave as real upstreams do.

Each server here writes bytes by hand: a body cut short, an answer that is not HTTP,
gzip on the wire, a keep-alive connection, a stream sent in pieces. The client must
see httpx errors the chain knows (retried, recorded with the right outcome), never
aiohttp's own, and get the same bodies httpx's own transport would give.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest

from cachefront.errors import UpstreamError, UpstreamTimeoutError
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream import NetworkTransport, RetryPolicy, UpstreamClient

FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.02)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server answering each connection with ``handler``; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        self.requests.append(head + body)
        return head

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/answer"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def _answer(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


@pytest.fixture
def records() -> list[UpstreamCallRecord]:
    return []


def _client(records: list[UpstreamCallRecord], timeout: float = 5.0) -> UpstreamClient:
    return UpstreamClient("raw", retry=FAST_RETRY, recorder=records.append, timeout=timeout)


async def test_a_body_cut_short_is_a_network_error_retried(
    records: list[UpstreamCallRecord],
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"')
        await writer.drain()

    server = RawServer(cut)
    async with server as url, _client(records) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", url)

    assert type(caught.value) is UpstreamError  # not a timeout: the server hung up
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    [record] = records
    assert (record.outcome, record.attempts) == ("connect_error", 2)
    assert server.connections == 2


async def test_an_answer_that_is_not_http_is_an_upstream_error(
    records: list[UpstreamCallRecord],
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    server = RawServer(garbage)
    async with server as url, _client(records) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", url)

    assert isinstance(caught.value.__cause__, httpx.HTTPError)
    assert records[0].outcome == "connect_error"


async def test_a_server_that_never_answers_is_a_timeout(
    records: list[UpstreamCallRecord],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await asyncio.sleep(10)

    server = RawServer(silent)
    async with server as url, _client(records, timeout=0.3) as client:
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", url)

    assert records[0].outcome == "timeout"


async def test_gzip_on_the_wire_is_decoded_and_keep_alive_reuses_the_connection(
    records: list[UpstreamCallRecord],
) -> None:
    payload = orjson.dumps({"price": 42.5, "symbol": "BTC"})

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(_answer(gzip.compress(payload), "Content-Encoding: gzip"))
            await writer.drain()

    server = RawServer(keep_alive)
    async with server as url, _client(records) as client:
        first = await client.request("POST", url, json={"n": 1}, headers={"X-Probe": "yes"})
        second = await client.request("GET", url)

    assert first.json() == second.json() == {"price": 42.5, "symbol": "BTC"}
    assert server.connections == 1
    head = server.requests[0].decode()
    # httpx's headers went out as they were, and none of aiohttp's own beside them.
    assert head.lower().count("user-agent:") == 1
    assert "python-httpx" in head
    assert head.lower().count("accept-encoding:") == 1
    assert "x-probe: yes" in head.lower()
    assert orjson.loads(server.requests[0].partition(b"\r\n\r\n")[2]) == {"n": 1}


async def test_a_stream_arrives_in_the_pieces_it_was_sent_in() -> None:
    go_on = asyncio.Event()

    async def pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"8\r\ndata: 1\n\r\n")
        await writer.drain()
        await go_on.wait()  # the second piece only once the first was read
        writer.write(b"8\r\ndata: 2\n\r\n0\r\n\r\n")
        await writer.drain()

    server = RawServer(pieces)
    seen: list[str] = []
    async with (
        server as url,
        httpx.AsyncClient(transport=NetworkTransport()) as client,
        client.stream("GET", url) as response,
    ):
        async for line in response.aiter_lines():
            seen.append(line)
            go_on.set()

    assert seen == ["data: 1", "data: 2"]


async def test_a_call_leaves_nothing_for_the_cyclic_collector(
    records: list[UpstreamCallRecord],
) -> None:
    # Reference cycles per call (a response's stream pointing back at it, the retry
    # machinery holding the outcome) made every call's objects wait for the collector,
    # whose young-generation passes then paused the loop for 40 ms at 200 calls/s.
    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(_answer(b'{"ok": true}'))
            await writer.drain()

    server = RawServer(keep_alive)
    async with server as url, _client(records) as client:
        await client.request("POST", url, json={"warm": True})
        gc.collect()
        gc.disable()
        try:
            for n in range(100):
                (await client.request("POST", url, json={"n": n})).json()
            left = gc.collect()
        finally:
            gc.enable()

    assert left < 100, f"{left} objects in reference cycles after 100 calls"
