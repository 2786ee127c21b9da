"""A second listener serving only /metrics, without authentication, for scrapers.

``CACHEFRONT_METRICS_BIND`` (``host:port``) names an address reachable by the
Prometheus server alone (a private interface, a pod's port): scrapers then need no
service key, and the address answers nothing but the exposition. Each worker process
of ``cachefront serve --workers N`` listens on it with ``SO_REUSEPORT``, so the kernel
hands each scrape to one of them, and any one answers every process's sums
(multiprocess mode). The server is a few lines of asyncio, not a second uvicorn: it
reads one request head, answers it and closes, which is all a scraper does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from sqlalchemy.exc import SQLAlchemyError

from cachefront.errors import ConfigurationError
from cachefront.http.problems import PROBLEM_JSON, problem_body

__all__ = ["MetricsListener", "parse_bind"]

log = logging.getLogger(__name__)
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# A scraper's request head is a few hundred bytes; anything slower or larger is not one.
HEAD_LIMIT_BYTES = 8192
HEAD_TIMEOUT_SECONDS = 10.0


def parse_bind(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9100`` for IPv6) as a host and a port; ValueError says why."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError("must be host:port, e.g. 10.0.0.5:9100 or [::1]:9100")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError("its port must be 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


class MetricsListener:
    """Serves ``GET /metrics`` on its own address with the bytes ``render`` returns."""

    def __init__(self, bind: str, render: Callable[[], Awaitable[bytes]]) -> None:
        self.host, self.port = parse_bind(bind)
        self._render = render
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Every worker process binds the same address; the kernel spreads scrapes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ConfigurationError(
                f"CACHEFRONT_METRICS_BIND: cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self._server = await asyncio.start_server(self._serve, sock=sock, limit=HEAD_LIMIT_BYTES)
        log.info(
            "metrics for scrapers on %s:%d (no authentication)",
            self.host,
            self.port,
            extra={"action": "metrics.bind"},
        )

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(
                    reader.readuntil(b"\r\n\r\n"), timeout=HEAD_TIMEOUT_SECONDS
                )
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return  # not a scraper's request: nothing to answer
            status, content_type, body = await self._answer(head)
            writer.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the scraper went away; the next scrape asks again
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        words = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            return 400, PROBLEM_JSON, problem_body(400, "malformed request line")
        method, target = words[0], words[1]
        path = target.split("?", 1)[0]
        if path != "/metrics":
            return 404, PROBLEM_JSON, problem_body(404, f"only /metrics is served here, not {path}")
        if method != "GET":
            return 405, PROBLEM_JSON, problem_body(405, f"/metrics takes GET, not {method}")
        try:
            return 200, PROMETHEUS_TEXT, await self._render()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics for a scraper failed: %s", exc, extra={"action": "metrics.failed"})
            return 503, PROBLEM_JSON, problem_body(503, "database unreachable; try again")
