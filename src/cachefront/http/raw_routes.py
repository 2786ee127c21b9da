"""Routes answered without the framework's routing: one exact method and path, one endpoint.

A room's busiest route may skip FastAPI's per-request work (matching the path against
every route, solving dependencies, the middleware the framework builds) when it needs
none of it. A room declares ``RawRoute(method, path, endpoint)`` in its optional
``raw_routes``; ``RawRoutesApp``, just inside the request metrics, answers an exact
match by calling ``endpoint(request)`` with a Starlette ``Request`` whose ``app`` is
the FastAPI application (its state and settings, as in a route), and sends the
response. Everything else goes to FastAPI, as before.

What the framework would have given such a request, it still gets: the route's
template for metrics and logs (``scope["route"].path``), and the application's own
exception handlers for whatever the endpoint raises, so errors are the same
problem+json. The room keeps the same route in its FastAPI router too, for the OpenAPI
document and for any method the raw route does not take.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["RawRoute", "RawRoutesApp", "raw_routes_of"]

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class RawRoute:
    """``method`` on exactly ``path`` is answered by ``endpoint``, outside the framework."""

    method: str
    path: str
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class _Matched:
    # What the request metrics and access logs read of a matched route.
    path: str


def raw_routes_of(rooms: Sequence[object]) -> list[RawRoute]:
    """The raw routes the rooms declare (``raw_routes``, optional: most rooms have none)."""
    return [route for room in rooms for route in getattr(room, "raw_routes", ())]


class RawRoutesApp:
    """Answers the raw routes itself and hands every other request to ``api``."""

    def __init__(self, api: FastAPI, routes: Sequence[RawRoute]) -> None:
        # ``app``, as every layer names what it wraps: the app is found by walking them.
        self.app = api
        self._routes: dict[tuple[str, str], tuple[Endpoint, _Matched]] = {}
        for route in routes:
            key = (route.method.upper(), route.path)
            if key in self._routes:
                raise ValueError(f"two raw routes for {route.method} {route.path}")
            self._routes[key] = (route.endpoint, _Matched(route.path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hit = self._routes.get((scope["method"], scope["path"]))
            if hit is not None:
                await self._answer(hit, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, hit: tuple[Endpoint, _Matched], scope: Scope, receive: Receive, send: Send
    ) -> None:
        endpoint, matched = hit
        scope["app"] = self.app
        scope["route"] = matched
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
            assert isinstance(response, Response)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        # The most specific handler the application registered, as Starlette finds it.
        handlers = self.app.exception_handlers
        for kind in type(exc).__mro__:
            handler = handlers.get(kind)
            if handler is not None:
                return handler
        return None
