"""Raw routes over real HTTP: answered outside the framework's routing, with its error handling."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cachefront.config import Settings
from cachefront.errors import NotReadyError
from cachefront.http.problems import install_problem_handlers
from cachefront.http.raw_routes import RawRoute, RawRoutesApp, raw_routes_of
from harness_servers import ServerThread


async def _raw(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "answered_by": "raw",
            "template": request.scope["route"].path,
            "title": request.app.title,
            "body": body.decode(),
        }
    )


async def _raises(request: Request) -> Response:
    if request.query_params.get("kind") == "domain":
        raise NotReadyError("still starting")
    raise RuntimeError("a bug")


def _api() -> FastAPI:
    api = FastAPI(title="under test")
    install_problem_handlers(api)

    @api.post("/echo")
    async def framework_post() -> dict[str, str]:
        return {"answered_by": "framework"}

    @api.get("/echo")
    async def framework_get() -> dict[str, str]:
        return {"answered_by": "framework"}

    return api


@pytest.fixture
def server_url() -> Iterator[str]:
    app = RawRoutesApp(
        _api(), [RawRoute("POST", "/echo", _raw), RawRoute("POST", "/boom", _raises)]
    )
    with ServerThread(Settings(), app) as server:
        yield server.url


def test_the_raw_route_answers_its_method_and_path(server_url: str) -> None:
    answer = httpx.post(server_url + "/echo", content=b"hello", timeout=5).json()
    assert answer == {
        "answered_by": "raw",
        "template": "/echo",
        "title": "under test",
        "body": "hello",
    }


def test_other_methods_and_paths_go_to_the_framework(server_url: str) -> None:
    assert httpx.get(server_url + "/echo", timeout=5).json() == {"answered_by": "framework"}
    # Not the exact path: the framework's own answer (its slash redirect here).
    assert httpx.post(server_url + "/echo/", timeout=5).status_code == 307


def test_errors_are_answered_by_the_applications_handlers(server_url: str) -> None:
    domain = httpx.post(server_url + "/boom", params={"kind": "domain"}, timeout=5)
    assert domain.status_code == 503
    assert domain.headers["content-type"] == "application/problem+json"
    assert domain.headers["retry-after"] == "5"
    bug = httpx.post(server_url + "/boom", timeout=5)
    assert bug.status_code == 500
    assert bug.json()["detail"] == "internal error"


def test_two_raw_routes_for_one_method_and_path_are_refused() -> None:
    with pytest.raises(ValueError, match="two raw routes"):
        RawRoutesApp(_api(), [RawRoute("POST", "/x", _raw), RawRoute("post", "/x", _raw)])


def test_rooms_without_raw_routes_bring_none() -> None:
    class Plain:
        pass

    class Busy:
        raw_routes = (RawRoute("POST", "/x", _raw),)

    assert raw_routes_of([Plain(), Busy()]) == list(Busy.raw_routes)


def test_the_layer_keeps_what_it_wraps_as_app() -> None:
    # Commands find the FastAPI application by walking each layer's ``app``.
    api = _api()
    assert RawRoutesApp(api, []).app is api
