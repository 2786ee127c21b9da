"""Domain errors become problem+json with the status each one carries, in one handler."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from cachefront.errors import (
    BadRequestError,
    CachefrontError,
    ConflictError,
    GoneError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
)
from cachefront.http.problems import install_problem_handlers


class _TeapotError(ConflictError):
    """A subclass the handlers have never heard of, with a status of its own."""

    status = 418


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/raise")
    async def raising() -> None:
        raise error

    return app


async def _get(error: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/raise")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ConflictError("job 1 is running"), 409),
        (QuotaExceededError("no room left"), 409),
        (GoneError("the result expired"), 410),
        (BadRequestError("empty header", field="Idempotency-Key"), 400),
        (InvalidInputError("bad step", field="step"), 422),
        (NotFoundError("no job 1"), 404),
        (PermissionDeniedError("service only"), 403),
        (_TeapotError("short and stout"), 418),
    ],
)
async def test_each_error_is_answered_with_its_status(error: CachefrontError, status: int) -> None:
    response = await _get(error)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert doc["status"] == status
    assert doc["detail"] == str(error)


async def test_the_field_named_by_an_input_error_is_listed() -> None:
    doc = (await _get(BadRequestError("must not be empty", field="Idempotency-Key"))).json()
    assert doc["errors"] == [{"field": "Idempotency-Key", "message": "must not be empty"}]
    assert doc["title"] == "Bad Request"


async def test_a_conflict_is_409_not_422() -> None:
    doc = (await _get(ConflictError("job 1 is running; only queued jobs cancel"))).json()
    assert doc["title"] == "Conflict"
    assert doc["errors"] == []


async def test_a_server_side_domain_error_hides_its_detail() -> None:
    response = await _get(CachefrontError("secret internals"))
    assert response.status_code == 500
    assert response.json()["detail"] == "internal error"
    assert "secret" not in response.text
