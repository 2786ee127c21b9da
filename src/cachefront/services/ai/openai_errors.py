"""Errors in OpenAI's format, ``{"error": {"message", "type", "param", "code"}}``.

The official clients pick their exception from the status (``RateLimitError`` on 429,
``AuthenticationError`` on 401, ...) and show ``message``; this module gives every
status the ``type`` OpenAI uses for it. ``problem_as_openai`` turns the platform's
problem+json (the gate's refusals, validation errors) into this format for the
room's paths.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cachefront.errors import CachefrontError

__all__ = [
    "ERROR_SCHEMA",
    "AiRequestError",
    "error_body",
    "error_response",
    "error_type",
    "problem_as_openai",
]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
}
# The JSON Schema of these errors, for the OpenAPI document.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> bytes:
    doc = {
        "error": {
            "message": message,
            "type": error_type(status),
            "param": param,
            "code": code if code is not None else _CODES.get(status),
        }
    }
    return orjson.dumps(doc)


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(status, message, param=param, code=code),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class AiRequestError(CachefrontError):
    """A request the AI routes refuse, answered in OpenAI's format with its own status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(
            self.status, self.message, param=self.param, code=self.code, headers=self.headers
        )


def problem_as_openai(status: int, problem: dict[str, Any]) -> bytes:
    """A problem+json document of the platform as an OpenAI error of the same status."""
    detail = problem.get("detail")
    message = detail if isinstance(detail, str) and detail else str(problem.get("title", ""))
    param: str | None = None
    errors = problem.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        field = errors[0].get("field")
        param = str(field) if field is not None else None
    return error_body(status, message, param=param)
