"""The dashboard at /dashboard: a page, its data as JSON, its vendored assets, and its login.

A caller gets in with the service key as a bearer (as every admin route), or with the
session cookie a one-time link opens (``tokens.py``; ``cachefront dashboard-url``
prints the link). The cookie is Secure when the browser reached us over HTTPS: the
request's own scheme, or behind a TLS-terminating proxy the ``X-Forwarded-Proto`` it
sends, believed only from ``CACHEFRONT_TRUSTED_PROXIES`` (the server runs uvicorn with
``proxy_headers=False``, so the scheme it sees is the proxy's plain HTTP).

The page loads only this server's files (no CDN: it works offline) and redraws its
charts from ``/dashboard/data`` every few seconds; its storage panel reads
``/dashboard/storage`` and its slowest calls and entries never read
``/dashboard/details`` once a minute, since those figures cost a pass over a table.
The rooms' panels (``rooms.js``) read ``/dashboard/rooms``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from cachefront.auth.identity import Identity, Role
from cachefront.http.client_address import ClientAddress
from cachefront.http.problems import problem_response
from cachefront.http.wire import IDENTITY_SCOPE_KEY
from cachefront.observability.dashboard_data import dashboard_data, dashboard_details
from cachefront.observability.processes import LocalState
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures
from cachefront.observability.routes import schedules
from cachefront.observability.storage import load_storage
from cachefront.observability.tokens import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    exchange_login,
    session_is_valid,
)

__all__ = ["router"]

# The window every dashboard document reads: up to a month, in hours.
WindowHours = Annotated[float, Query(gt=0, le=24 * 31, description="Window, in hours")]

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

_STATIC = resources.files("cachefront.observability").joinpath("static")
# The files the page may load, and their types: nothing else is served from the folder.
_ASSETS = {
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "rooms.js": ("rooms.js", "text/javascript; charset=utf-8"),
    "uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
}
# Served for an asset the page names that this deployment does not ship (rooms.js before
# any room has a panel), so the page loads without a failed request.
_ABSENT = {"rooms.js": b"// no room panels in this deployment\n"}
# The page runs only its own scripts; uPlot sizes its elements with inline styles.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_LOGIN_HINT = "open the link `cachefront dashboard-url` prints, or send the service key as bearer"


async def _allowed(request: Request) -> bool:
    identity: Identity | None = request.scope.get(IDENTITY_SCOPE_KEY)
    if identity is not None and identity.role is Role.SERVICE:
        return True
    engine = request.app.state.resources.engine
    return await session_is_valid(engine, request.cookies.get(SESSION_COOKIE))


def _refused() -> Response:
    return problem_response(401, f"dashboard login required: {_LOGIN_HINT}", headers=_HEADERS)


@router.get("")
async def page(request: Request) -> Response:
    if not await _allowed(request):
        return _refused()
    html = _STATIC.joinpath("dashboard.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/data")
async def data(
    request: Request,
    hours: WindowHours = 24,
) -> Response:
    if not await _allowed(request):
        return _refused()
    state = request.app.state
    await state.resources.recorder.flush()
    # As /v1/admin/health: this process's breakers and worker published first, then the
    # health panel judges what every live process published, like every other view.
    local: LocalState | None = getattr(state, "local_state", None)
    if local is not None:
        await local.publish(state.resources.engine)
    doc = await dashboard_data(
        state.resources.read_engine,
        state.settings,
        getattr(state, "attribution", None),
        {},
        hours=hours,
        schedules=schedules(request),
        rooms=getattr(state, "room_figures", None),
    )
    return Response(orjson.dumps(doc), media_type="application/json", headers=_HEADERS)


@router.get("/details")
async def details(
    request: Request,
    hours: WindowHours = 24,
) -> Response:
    if not await _allowed(request):
        return _refused()
    state = request.app.state
    await state.resources.recorder.flush()
    doc = await dashboard_details(state.resources.read_engine, state.settings, hours=hours)
    return Response(orjson.dumps(doc), media_type="application/json", headers=_HEADERS)


@router.get("/rooms")
async def rooms(
    request: Request,
    hours: WindowHours = 24,
) -> Response:
    """The rooms' panels read only this, not the whole document ``/data`` is."""
    if not await _allowed(request):
        return _refused()
    state = request.app.state
    readers = getattr(state, "room_figures", None) or FigureReaders()
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)
    figures = await state.resources.read_engine.read(
        lambda e: read_room_figures(e, state.settings, readers, since, until)
    )
    body = orjson.dumps({name: f.model_dump(mode="json") for name, f in figures.items()})
    return Response(body, media_type="application/json", headers=_HEADERS)


@router.get("/storage")
async def storage(request: Request) -> Response:
    if not await _allowed(request):
        return _refused()
    state = request.app.state
    quotas = {ns: int(size) for ns, size in state.settings.cache_quotas.items()}
    report = await state.resources.read_engine.read(lambda e: load_storage(e, quotas))
    body = orjson.dumps(report.model_dump(mode="json"))
    return Response(body, media_type="application/json", headers=_HEADERS)


@router.get("/login")
async def login(
    request: Request,
    token: Annotated[str, Query(min_length=1, max_length=128, description="One-time token")],
) -> Response:
    session = await exchange_login(request.app.state.resources.engine, token)
    if session is None:
        return problem_response(
            401, f"login link unknown, expired or used already: {_LOGIN_HINT}", headers=_HEADERS
        )
    answer = RedirectResponse("/dashboard", status_code=303, headers=_HEADERS)
    answer.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=_over_https(request),
    )
    return answer


def _over_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    proxies: ClientAddress | None = getattr(request.app.state, "client_address", None)
    peer = request.client.host if request.client is not None else ""
    if proxies is None or not proxies.trusted(peer):
        return False
    # The value the nearest proxy, the trusted one, put last; nginx replaces the header.
    values = ",".join(request.headers.getlist("x-forwarded-proto")).split(",")
    return values[-1].strip().lower() == "https"


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        return problem_response(404, f"no dashboard asset named {name!r}")
    path, media_type = found
    asset_file = _STATIC.joinpath(path)
    body = asset_file.read_bytes() if asset_file.is_file() else _ABSENT[name]
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
