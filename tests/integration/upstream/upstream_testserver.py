"""Test doubles that speak real protocols: a scripted HTTP upstream and a TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: str = '{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    """What the server saw of one request."""

    method: str
    query: str
    headers: dict[str, str]
    body: bytes


class ScriptedRoute:
    """One path on the server: replies in order, the last one repeating forever."""

    def __init__(self, base_url: str, name: str) -> None:
        self.url = f"{base_url}/{name}"
        self.seen: list[Seen] = []
        self._replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()

    def script(self, *replies: Reply | int) -> None:
        with self._lock:
            self._replies = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    @property
    def hits(self) -> int:
        with self._lock:
            return len(self.seen)

    def take(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            if len(self._replies) > 1:
                return self._replies.pop(0)
            return self._replies[0]


class ScriptedServer:
    def __init__(self) -> None:
        self.base_url = ""
        self.routes: dict[str, ScriptedRoute] = {}

    def new_route(self) -> ScriptedRoute:
        name = uuid.uuid4().hex[:12]
        route = ScriptedRoute(self.base_url, name)
        self.routes[name] = route
        return route

    async def handle(self, request: Request) -> Response:
        route = self.routes.get(request.path_params["name"])
        if route is None:
            return Response(status_code=404)
        reply = route.take(
            Seen(
                method=request.method,
                query=request.url.query,
                headers=dict(request.headers),
                body=await request.body(),
            )
        )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(
            reply.body,
            status_code=reply.status,
            headers=reply.headers,
            media_type="application/json",
        )


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TcpProxy:
    """Forwards a local port to a target; ``stop()`` cuts every connection, like an outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._tasks.difference_update(pipes)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


@contextlib.contextmanager
def running_server() -> Iterator[ScriptedServer]:
    """A ScriptedServer under uvicorn in a background thread on 127.0.0.1, for the block."""
    scripted = ScriptedServer()
    app = Starlette(
        routes=[Route("/{name:path}", scripted.handle, methods=["GET", "POST", "PUT", "DELETE"])]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    scripted.base_url = f"http://{host}:{port}"
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        # Slow scripted replies may still be sleeping when the session ends.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started_by = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > started_by or not thread.is_alive():
                raise RuntimeError("the scripted upstream server did not start")
            time.sleep(0.01)
        yield scripted
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
