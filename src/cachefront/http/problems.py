"""RFC 9457 problem+json: the one shape of every error response, and the handlers that make it."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cachefront.errors import (
    AuthenticationError,
    CachefrontError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
)
from cachefront.http.wire import REQUEST_ID_SCOPE_KEY
from cachefront.validation import error_message

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cachefront.dev/problems/"
# RFC 9110 renamed 422; Python's http module still has the older phrase.
_TITLES = {422: "Unprocessable Content"}


def problem_body(status: int, detail: str, *, type_: str | None = None, **extra: Any) -> bytes:
    """The JSON bytes of a problem document; ``type`` defaults to a slug of the status."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    doc: dict[str, Any] = {
        "type": type_ or PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    doc.update(extra)
    return orjson.dumps(doc)


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return Response(
        problem_body(status, detail, type_=type_, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        # A body that is not JSON at all: the location's tail is a character offset.
        field = "body" if error.get("type") == "json_invalid" else ".".join(location[1:])
        out.append(
            {
                "field": field or ".".join(location),
                "in": location[0] if location else None,
                "message": error_message(error),
            }
        )
    return out


def _domain_problem(exc: CachefrontError) -> Response:
    """A client error as problem+json: its own status, detail, and the field it names."""
    detail = str(getattr(exc, "detail", None) or exc) or HTTPStatus(exc.status).phrase.lower()
    field = getattr(exc, "field", None)
    if isinstance(exc, (NotFoundError, PermissionDeniedError)):
        # Nothing the caller sent was wrong: no list of fields to fix.
        return problem_response(exc.status, detail)
    errors = [{"field": field, "message": detail}] if field else []
    return problem_response(exc.status, detail, errors=errors)


def request_id(request: Request) -> str:
    """The id the gate gave this request (``X-Request-ID``), for logs."""
    value = request.scope.get(REQUEST_ID_SCOPE_KEY, b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def install_problem_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and everything unexpected to problem+json."""

    async def on_unauthenticated(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthenticationError)
        return problem_response(
            exc.status, str(exc), headers={"WWW-Authenticate": 'Bearer realm="cachefront"'}
        )

    async def on_rate_limited(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimitedError)
        return problem_response(exc.status, str(exc), headers={"Retry-After": str(exc.retry_after)})

    async def on_upstream(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, UpstreamError)
        return problem_response(
            exc.status,
            f"no provider could answer: {exc.detail}",
            provider=exc.provider,
            headers={"Retry-After": "30"},
        )

    async def on_not_ready(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotReadyError)
        return problem_response(exc.status, str(exc), headers={"Retry-After": "5"})

    async def on_domain(request: Request, exc: Exception) -> Response:
        # Every other domain error is answered with the status it carries, so a new
        # error (or a room's own subclass) needs no handler here.
        assert isinstance(exc, CachefrontError)
        if exc.status >= 500:
            rid = request_id(request)
            log.error(
                "unhandled domain error (request %s): %r",
                rid,
                exc,
                extra={"action": "http.domain_error", "request_id": rid},
            )
            return problem_response(500, "internal error")
        return _domain_problem(exc)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(422, detail, errors=errors)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}))

    async def on_database_unreachable(request: Request, exc: Exception) -> Response:
        # The database is down or its pool is exhausted: a condition to wait out, not a
        # bug, so 503 with Retry-After; the log keeps the driver's own message.
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            extra={"action": "http.database_unavailable", "request_id": request_id(request)},
        )
        return problem_response(503, "database unavailable", headers={"Retry-After": "5"})

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # The client learns only that it failed; the log has the cause and traceback.
        rid = request_id(request)
        log.exception(
            "unexpected error on %s %s (request %s)",
            request.method,
            request.url.path,
            rid,
            exc_info=exc,
            extra={"action": "http.unexpected", "request_id": rid},
        )
        return problem_response(500, "internal error")

    app.add_exception_handler(AuthenticationError, on_unauthenticated)
    app.add_exception_handler(RateLimitedError, on_rate_limited)
    app.add_exception_handler(UpstreamError, on_upstream)
    app.add_exception_handler(NotReadyError, on_not_ready)
    app.add_exception_handler(CachefrontError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unreachable in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(unreachable, on_database_unreachable)
    app.add_exception_handler(Exception, on_unexpected)
