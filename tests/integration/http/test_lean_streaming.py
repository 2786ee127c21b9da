"""The lean streamed response over real HTTP: same bytes as Starlette's, and a client leaving."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from cachefront.config import Settings
from cachefront.http.streaming import LeanStreamingResponse
from harness_servers import ServerThread


class Probe:
    """What the server side saw, read from the test's thread."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.background_ran = threading.Event()
        self.sent = 0


def _app(probe: Probe) -> Starlette:
    async def chunks(hang_after: int | None) -> AsyncIterator[bytes]:
        try:
            for index in range(3):
                if hang_after is not None and index == hang_after:
                    await asyncio.Event().wait()  # a stream whose next chunk never comes
                probe.sent += 1
                yield b"data: %d\n\n" % index
        finally:
            probe.closed.set()

    def background() -> None:
        probe.background_ran.set()

    async def lean(request: Request) -> LeanStreamingResponse:
        hang = request.query_params.get("hang")
        return LeanStreamingResponse(
            chunks(int(hang) if hang else None),
            media_type="text/event-stream",
            headers={"X-Cache": "MISS"},
            background=BackgroundTask(background),
        )

    async def starlette(request: Request) -> StreamingResponse:
        return StreamingResponse(
            chunks(None), media_type="text/event-stream", headers={"X-Cache": "MISS"}
        )

    return Starlette(routes=[Route("/lean", lean), Route("/starlette", starlette)])


@pytest.fixture
def served() -> Iterator[tuple[str, Probe]]:
    probe = Probe()
    with ServerThread(Settings(), _app(probe)) as server:
        yield server.url, probe


def test_sends_what_starlettes_streaming_response_sends(served: tuple[str, Probe]) -> None:
    url, probe = served
    lean = httpx.get(url + "/lean", timeout=5)
    reference = httpx.get(url + "/starlette", timeout=5)
    assert lean.status_code == reference.status_code == 200
    assert lean.content == reference.content == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert lean.headers["transfer-encoding"] == reference.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in lean.headers
    for name in ("content-type", "x-cache"):
        assert lean.headers[name] == reference.headers[name]
    assert probe.background_ran.wait(5)


def test_a_client_leaving_closes_the_stream(served: tuple[str, Probe]) -> None:
    url, probe = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"GET /lean?hang=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"data: 0" not in received:
            received += client.recv(4096)
    # The stream waits forever for its next chunk: only the client's leaving ends it.
    assert probe.closed.wait(5)
    assert probe.sent == 1
    time.sleep(0.2)
    assert not probe.background_ran.is_set()  # a stream cut short runs no background task


def test_the_server_still_answers_after_a_client_left(served: tuple[str, Probe]) -> None:
    url, probe = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"GET /lean?hang=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        client.recv(4096)
    assert probe.closed.wait(5)
    assert httpx.get(url + "/lean", timeout=5).content.endswith(b"data: 2\n\n")
