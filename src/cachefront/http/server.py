"""The HTTP server's protocol: uvicorn's httptools parser with deadlines and a header size limit.

uvicorn bounds idle time only between requests (``timeout_keep_alive``, reset by every
byte received) and, with httptools, has no limit on the size of request headers, so a
client that sends nothing, drips its headers or its body, or sends megabytes of headers,
holds a socket and memory for as long as it likes. ``GuardedHttpProtocol`` adds:

- a header deadline: request line and headers must be complete within
  ``header_timeout`` seconds of the connection (first request) or of the request's
  first byte (later requests on a keep-alive connection); otherwise the connection is
  closed;
- a body deadline: once the headers are in, the whole body must arrive within
  ``body_timeout`` seconds; otherwise the connection is closed (the application sees a
  client disconnect);
- a header size limit: past ``max_header_bytes`` of request line and headers, the
  client gets 431 and the connection is closed, before the parser buffers any more.

- a connection cap: a request arriving while more than ``max_connections`` connections
  are open (idle kept-alive ones included), or as many requests are running, gets 503
  and its connection is closed. uvicorn's ``limit_concurrency`` counts the same way
  but answers in plain text; here the answer is problem+json like every other error.

- a drain on shutdown: once uvicorn asks the connections to shut down (SIGTERM), an
  idle kept-alive connection is not closed at once but given ``DRAIN_SECONDS`` for
  one more request, answered with ``connection: close``; every answer from then on
  says ``connection: close``, and ``draining.py`` tells the streams that end early.

Cost per request: a few attribute updates and one clock read; no timer is created or
cancelled per request (see ``GuardedHttpProtocol``). A request that arrives whole and
is a direct hit is answered before the parser sees it (``direct_protocol.serve_chunk``),
and its connection's keep-alive timeout is then kept on the same timer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cachefront.config import Settings
from cachefront.draining import begin_draining
from cachefront.http.direct import responder_of
from cachefront.http.direct_protocol import serve_chunk, serve_directly
from cachefront.http.tuning import tune_process

__all__ = [
    "DRAIN_SECONDS",
    "ConnectionLimits",
    "GuardedHttpProtocol",
    "server_protocol",
    "uvicorn_options",
]

log = logging.getLogger(__name__)

_TOO_LARGE_BODY = (
    b'{"type":"about:blank","title":"Request Header Fields Too Large","status":431,'
    b'"detail":"the request line and headers are larger than this server accepts"}'
)
_TOO_LARGE = b"".join(
    [
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"content-type: application/problem+json\r\n",
        b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
        _TOO_LARGE_BODY,
    ]
)

# How long an idle kept-alive connection stays open once shutdown begins. A proxy
# (nginx) may have picked it for a request at the very moment it would be closed: that
# request would fail, and nginx does not retry a POST that may have been received.
# Left open briefly, the connection takes that request and answers it with
# ``connection: close``, and nginx drops it from its pool; the listening socket is
# already closed, so new connections go to the other processes meanwhile.
DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may take before it is closed; the defaults are the settings'."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
        )


# The base class's methods, called directly on the per-request path: a little cheaper
# than looking them up through super() on every call.
_base_data_received = HttpToolsProtocol.data_received
_base_on_headers_complete = HttpToolsProtocol.on_headers_complete
_base_on_message_complete = HttpToolsProtocol.on_message_complete


def _refusal(status: int, body: bytes) -> ASGIApp:
    """An app answering ``status`` with the problem+json ``body`` and closing the connection."""
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return refuse


_headers_too_large = _refusal(431, _TOO_LARGE_BODY)
_over_capacity = _refusal(
    503,
    b'{"type":"about:blank","title":"Service Unavailable","status":503,'
    b'"detail":"this server has as many connections open as it accepts; try again"}',
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the deadlines and header limit of the module doc.

    A deadline is a timestamp, ``_expires_at`` (0 when none runs), checked by one timer
    per connection that re-arms itself only while a deadline runs: a kept-alive
    connection making request after request sets and clears a float per request and
    creates a timer at most once per timeout, not one per request. After an answer of
    ``serve_chunk`` the same deadline is the idle connection's keep-alive timeout
    (``_idle``), in place of the timer uvicorn would arm per request.
    """

    # Loop time of the last over-capacity warning, shared by the process's connections.
    _last_capacity_warning: ClassVar[float] = float("-inf")

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        # Copied out of ``limits``: read on every chunk and every request.
        self._header_timeout = limits.header_timeout
        self._max_header_bytes = limits.max_header_bytes
        self._max_connections = limits.max_connections
        self._expires_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # Bytes received since the current request began, counted only while its headers
        # are incomplete; past the limit, every chunk takes the slow path.
        self._reading_headers = True
        self._header_bytes = 0
        self._awaiting_body = False
        self._refused = False
        # The direct path (``direct_protocol.py``): the app's responder, when it has one,
        # and whether the request in hand was answered by it.
        self._direct = responder_of(self.app)
        self._direct_done = False
        # Whole requests answered before the parser (``serve_chunk``): not with a root
        # path or uvicorn's access log, which the ASGI cycle applies.
        no_cycle_work = not self.root_path and not self.access_log
        self._quick = self._direct if no_cycle_work else None
        self._keep_alive_timeout = float(self.timeout_keep_alive)
        # Whether the running deadline is the keep-alive one of an idle connection.
        self._idle = False
        # Set by ``shutdown``: every answer from then on closes its connection.
        self._draining = False

    # --- connection events ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # The first connection of a worker tunes its process (http/tuning.py): the
        # collector is the server process's business, not the application's.
        tune_process()
        super().connection_made(transport)
        # A connection that never completes its first request's headers is closed: this
        # covers the client that connects and sends nothing.
        self._start_deadline(self._limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._expires_at = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown, one connection at a time (see ``DRAIN_SECONDS``)."""
        begin_draining(self.loop)
        self._draining = True
        # From here on every request takes the ASGI cycle, whose answer says
        # ``connection: close`` (the direct path keeps connections alive).
        self._quick = None
        self._direct = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # busy: closed once this answer is out
            return
        if self.transport.is_closing():
            return
        if self._reading_headers and self._header_bytes:
            return  # a request is arriving: its header deadline runs, then it closes
        # Idle: closed by the deadline timer unless a request comes first.
        self._idle = True
        self._expires_at = self.loop.time() + DRAIN_SECONDS
        if self._timer is None or self._timer_at > self._expires_at:
            self._start_deadline(DRAIN_SECONDS)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            if not self._header_bytes:
                # The first bytes of a request. Idle no more: the keep-alive deadline of
                # a direct answer stops here.
                if self._idle:
                    self._idle = False
                    self._expires_at = 0.0
                if (
                    self._quick is not None
                    and len(data) <= self._max_header_bytes
                    and len(self.connections) <= self._max_connections
                    and len(self.tasks) < self._max_connections
                    and serve_chunk(self, self._quick, data)
                ):
                    self._answered_directly()
                    return
                if not self._expires_at:
                    # A later request on a kept-alive connection: its headers get the
                    # same time as the first request's. Inlined, and the timer usually
                    # still runs: this is the one step every request takes.
                    self._expires_at = self.loop.time() + self._header_timeout
                    if self._timer is None or self._timer_at > self._expires_at:
                        self._start_deadline(self._header_timeout)
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self._received_past_limit(data)
                return
        _base_data_received(self, data)
        if self._awaiting_body and not self._expires_at:
            # Headers complete, body still to come: the body has its own deadline. Set
            # here rather than in the parser callback, so that a request complete in
            # one chunk (any GET) never starts one.
            self._start_deadline(self._limits.body_timeout)

    def _answered_directly(self) -> None:
        # A request answered whole by ``serve_chunk``: the connection is idle, and is
        # closed after uvicorn's keep-alive timeout without another request, as uvicorn
        # closes it; kept on this connection's one timer rather than a timer per request.
        if self.transport.is_closing():
            return
        self._idle = True
        self._expires_at = self.loop.time() + self._keep_alive_timeout
        if self._timer is None or self._timer_at > self._expires_at:
            self._start_deadline(self._keep_alive_timeout)

    # --- parser callbacks -------------------------------------------------------------
    def on_headers_complete(self) -> None:
        self._expires_at = 0.0
        self._reading_headers = False
        if (
            self._header_bytes > self._max_header_bytes
            and self._header_size() > self._max_header_bytes
        ):
            # The whole oversized block came in the chunk that crossed the limit: answer
            # through uvicorn's own request cycle (as it does for its 503), which then
            # closes the connection.
            self._answer(_headers_too_large)
            return
        if (
            len(self.connections) > self._max_connections
            or len(self.tasks) >= self._max_connections
        ):
            self._warn_over_capacity()
            self._answer(_over_capacity)
            return
        if self._direct is not None and serve_directly(self, self._direct):
            self._direct_done = True
            return
        self._awaiting_body = True
        _base_on_headers_complete(self)
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _warn_over_capacity(self) -> None:
        # Once a minute at most: a flood of refused requests must not flood the log too.
        now = self.loop.time()
        if now - GuardedHttpProtocol._last_capacity_warning >= 60:
            GuardedHttpProtocol._last_capacity_warning = now
            log.warning(
                "refusing requests with 503: %d connections open, at most %d "
                "(CACHEFRONT_MAX_CONNECTIONS)",
                len(self.connections) - 1,
                self._max_connections,
            )

    def _answer(self, refusal: ASGIApp) -> None:
        # uvicorn's request cycle answers with the app it finds in self.app (as for its
        # own 503): the refusal stands in for the application for this one request.
        app, self.app = self.app, refusal
        try:
            _base_on_headers_complete(self)
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._expires_at = 0.0
        self._reading_headers = True
        self._header_bytes = 0
        if self._direct_done:
            self._direct_done = False  # answered when its headers came: no cycle to finish
            return
        _base_on_message_complete(self)

    # --- the guards -------------------------------------------------------------------
    def _received_past_limit(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: read and drop, hold nothing
        # The chunk that crossed the limit may also hold the end of the headers and the
        # start of a body: the parser decides whether the headers are over the limit.
        super().data_received(data)
        # Headers still unfinished after this chunk. A whole request in the chunk (a
        # large POST body with its headers) completes, and its completion starts the
        # next request's headers at zero bytes: that one is not over any limit.
        if self._reading_headers and self._header_bytes and not self.transport.is_closing():
            self._refuse()

    def _header_size(self) -> int:
        # Only computed on the rare path where the received bytes passed the limit.
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _refuse(self) -> None:
        """Answer 431 to unfinished headers, then drop what the client still sends.

        Closing at once with unread data would reset the connection, and the client
        might never read the answer; so the write side is shut after the answer and the
        rest is read and discarded (the parser is never fed again), for at most one
        header timeout.
        """
        self._refused = True
        log.debug("refused request headers over %d bytes", self._limits.max_header_bytes)
        self.transport.write(_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._start_deadline(self._limits.header_timeout)

    def _start_deadline(self, seconds: float) -> None:
        now = self.loop.time()
        self._expires_at = now + seconds
        if self._timer is not None and self._timer_at <= self._expires_at:
            return  # the running timer fires first and re-arms for the rest
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._expires_at
        self._timer = self.loop.call_at(self._expires_at, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._expires_at:
            return  # no deadline runs: the connection is idle between requests or busy
        if self._expires_at > self.loop.time():
            self._timer_at = self._expires_at
            self._timer = self.loop.call_at(self._expires_at, self._check_deadline)
            return
        self._expires_at = 0.0
        if not self.transport.is_closing():
            log.debug("closed a connection whose request did not arrive in time")
            self.transport.close()


def server_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The protocol to hand to uvicorn as ``http=``, bound to ``limits``.

    A ``functools.partial`` of the class rather than a class made on the fly: uvicorn
    only calls it with the protocol's keyword arguments and reads optional attributes
    with ``getattr``, and with ``--workers`` it pickles the config into each worker
    process, which a partial of a module-level class survives.
    """
    return cast("type[asyncio.Protocol]", functools.partial(GuardedHttpProtocol, limits=limits))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options every cachefront server uses, in production and in tests."""
    return {
        "http": server_protocol(ConnectionLimits.from_settings(settings)),
        # Whether X-Forwarded-For names the client is the gate's decision, made from
        # CACHEFRONT_TRUSTED_PROXIES (empty by default); uvicorn's own proxy handling
        # would otherwise believe it from any peer on 127.0.0.1 before the gate runs.
        "proxy_headers": False,
        # Every request is already recorded as a metric; an access log line per request
        # would cost more than answering a cache hit.
        "access_log": False,
        # On SIGTERM uvicorn stops accepting and closes idle connections at once, then
        # waits for in-flight requests and streams: at most this long (unbounded by
        # default), after which it cancels them and the lifespan shuts down.
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
    }
