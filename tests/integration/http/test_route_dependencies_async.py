"""Every route of the app, and every dependency it declares, runs on the event loop.

FastAPI runs a plain ``def`` endpoint or dependency in its thread pool: a thread hop
per request that cost the AI gateway a third of its CPU per call before it was found.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cachefront.app import create_app
from cachefront.config import Settings


def _calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for child in dependant.dependencies:
        yield from _calls(child)


def _api_routes(routes: list[Any]) -> Iterator[tuple[APIRoute, list[Any]]]:
    """Each APIRoute with the dependencies its routers add to it (FastAPI keeps included
    routers nested since 0.16x, where earlier versions copied their routes up)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, []
        router = getattr(route, "original_router", None)
        if router is not None:
            added = [depends.dependency for depends in router.dependencies]
            for inner, more in _api_routes(router.routes):
                yield inner, added + more


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    # Security schemes are instances whose __call__ is a coroutine.
    return not inspect.isfunction(call) and inspect.iscoroutinefunction(type(call).__call__)


async def test_no_route_or_dependency_is_sent_to_the_thread_pool(
    settings_for: Callable[..., Settings],
) -> None:
    app: Any = create_app(settings_for())
    while not isinstance(app, FastAPI):  # the ASGI layers in front of the FastAPI app
        app = app.app
    # The rooms' routes are mounted when the app starts.
    async with app.router.lifespan_context(app):
        routes = list(_api_routes(app.routes))
    paths = {route.path for route, _ in routes}
    # The rooms' routes are there, not only the platform's.
    assert {"/v1/chat/completions", "/v1/jobs/{job_id}", "/v1/admin/stats"} <= paths
    threaded = sorted(
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route, added in routes
        for call in [*_calls(route.dependant), *added]
        if not _runs_on_the_loop(call)
    )
    assert threaded == []
