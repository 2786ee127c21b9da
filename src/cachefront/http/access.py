"""The access log: one line per request, in json mode, for the ASGI path and direct hits alike.

``AccessLogApp`` is the outermost ASGI layer when ``CACHEFRONT_LOG_FORMAT=json``, so
the gate's refusals get a line too; the server's direct path (``direct.py``) writes
its hits through the same ``AccessLog``. In text mode neither is built: the line costs
nothing there, as before (per-request figures are in the metrics tables).

The fields of a line (``extra`` of one record on the ``cachefront.access`` logger):
``action`` (``http.request``), ``request_id`` (the ``X-Request-ID`` answered),
``method``, ``route`` (the template, e.g. ``/v1/ephemeris/{body}``; ``unmatched``
when no route has it), ``path`` (with its query, secret parameters masked by
``mask_url``), ``status``, ``latency_ms``, ``tier`` (the ``X-Cache`` answered, or
null), ``caller`` (``anon``, ``user`` or ``service``; null when the gate refused
before knowing), ``client`` (the address the gate counted). Never a header: the
credentials (Authorization, apikey, cookies) are not read here at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.auth.identity import Identity
from cachefront.http.fastpath import FastRoute, route_for
from cachefront.http.wire import IDENTITY_SCOPE_KEY, REQUEST_ID_SCOPE_KEY
from cachefront.logs import mask_url

__all__ = ["ACCESS_LOGGER", "AccessLog", "AccessLogApp", "RouteNames", "caller_of", "x_cache_of"]

ACCESS_LOGGER = "cachefront.access"
_UNMATCHED = "unmatched"


class AccessLog:
    """Writes access lines to the ``cachefront.access`` logger, at INFO."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ACCESS_LOGGER)

    def line(
        self,
        *,
        request_id: str,
        method: str,
        route: str,
        path: str,
        query: bytes,
        status: int,
        latency_ms: float,
        tier: str | None,
        caller: str | None,
        client: str | None,
    ) -> None:
        """One request's line; ``query`` is the raw query string, masked here."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        target = mask_url(f"{path}?{query.decode('latin-1')}") if query else path
        # makeRecord and handle rather than info(): the same record and handlers, without
        # the walk up the stack for the caller's file and line, which every access line
        # would name the same (about a sixth of a line's cost).
        record = logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d",
            (method, route, status),
            None,
            extra={
                "action": "http.request",
                "request_id": request_id,
                "method": method,
                "route": route,
                "path": target,
                "status": status,
                "latency_ms": round(latency_ms, 3),
                "tier": tier,
                "caller": caller,
                "client": client,
            },
        )
        logger.handle(record)


class RouteNames:
    """The route template of a request, once the layers inside have answered it.

    The framework's route when it routed the request; a hot-path hit's fast route;
    for a request refused before routing, the first framework route matching it.
    """

    def __init__(self, routes: Iterable[BaseRoute], fast_routes: Iterable[FastRoute]) -> None:
        self.routes = tuple(_flat(routes))
        self.fast_routes = tuple(fast_routes)

    def of(self, scope: Scope) -> str:
        template = getattr(scope.get("route"), "path", None)
        if template:
            return str(template)
        fast = route_for(self.fast_routes, scope["path"])
        if fast is not None:
            return fast.template
        # Refused before routing: the route it would have reached (by method too, else
        # the one answering its path with 405), if any.
        partial = _UNMATCHED
        for candidate in self.routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                return str(getattr(candidate, "path", _UNMATCHED))
            if match is Match.PARTIAL and partial is _UNMATCHED:
                partial = str(getattr(candidate, "path", _UNMATCHED))
        return partial


class AccessLogApp:
    """ASGI layer that writes one access line per HTTP request, once it is answered.

    It reads what the layers inside leave in the scope (the gate's request id, identity
    and client address; the framework's route) and the status and ``X-Cache`` of the
    response.
    """

    def __init__(self, app: ASGIApp, access: AccessLog, names: RouteNames) -> None:
        self.app = app
        self.access = access
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        tier: str | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status, tier
            if message["type"] == "http.response.start":
                status = message["status"]
                tier = x_cache_of(message)
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            self.access.line(
                request_id=scope.get(REQUEST_ID_SCOPE_KEY, b"").decode("latin-1"),
                method=scope["method"],
                route=self.names.of(scope),
                path=scope["path"],
                query=scope.get("query_string", b""),
                status=status,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                tier=tier,
                caller=caller_of(scope),
                client=client[0] if client else None,
            )


def _flat(routes: Iterable[BaseRoute]) -> Iterable[BaseRoute]:
    """The routes with a path template, those of included routers too.

    FastAPI keeps an included router as one route wrapping the router's own (its
    ``original_router``); cachefront's routers carry their prefix themselves, so the
    wrapped routes' templates are the full paths.
    """
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        elif getattr(route, "path", None):
            yield route


def x_cache_of(message: Message) -> str | None:
    """The ``X-Cache`` of an ``http.response.start`` message: the tier that answered."""
    for name, value in message.get("headers", ()):
        if name == b"x-cache":
            return str(value.decode("latin-1"))
    return None


def caller_of(scope: Scope) -> str | None:
    """The caller's role as the gate identified it, or None when it refused before."""
    identity = scope.get(IDENTITY_SCOPE_KEY)
    return identity.role.value if isinstance(identity, Identity) else None
