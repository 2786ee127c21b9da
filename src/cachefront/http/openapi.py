"""The OpenAPI schema, completed with each route's access rule, limit and error responses.

Routes are documented by FastAPI from their signatures; what the gate in front of them
does (authentication, the route group's limit, refusals) is added here, once, from the
same route-group table the gate uses, so routes added later are documented alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import limits
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cachefront.http.error_formats import ErrorFormat, error_format_for
from cachefront.ratelimit import SERVICE_ONLY_GROUPS, route_group

__all__ = ["PROBLEM_SCHEMA", "document_access"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; some problems add fields (errors, provider).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_HEADERS = {
    "X-Request-ID": {
        "description": "This request's id, also in the server's log lines about it.",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Room left: `"<group>";r=<remaining>;t=<seconds to reset>`.',
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'The limit: `"<group>";q=<quota>;w=<window seconds>`.',
        "schema": {"type": "string"},
    },
}
_ERRORS = {
    "401": "Credentials missing where the route needs them, or not valid",
    "403": "The caller's role may not use this route",
    "404": "Not found",
    "409": "The resource's state does not allow this (e.g. cancelling a finished job)",
    "413": "Request body over the size limit",
    "422": "Invalid input (problem+json naming what was wrong)",
    "429": "Rate limit reached, or too many failed authentications from this address; "
    "Retry-After says when to come back",
    "500": "Unexpected error; the response carries only the request id to quote",
    "503": "Not ready, no provider could answer, or the identity provider (JWKS) is "
    "unreachable; Retry-After says when to try again",
}


def _format_content(fmt: ErrorFormat) -> dict[str, Any]:
    return {fmt.media_type: {"schema": fmt.schema or {"type": "object"}}}


def document_access(
    api: FastAPI,
    group_limits: dict[str, limits.RateLimitItem],
    anon_groups: Iterable[str],
    error_formats: Sequence[ErrorFormat] = (),
) -> None:
    """Make ``api.openapi()`` describe auth, limits and error responses of every route.

    Errors are problem+json, but under a room's ``error_formats`` prefix, where they
    are documented in that format."""
    anon = frozenset(anon_groups) - SERVICE_ONLY_GROUPS

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = get_openapi(
            title=api.title,
            version=api.version,
            summary=api.summary,
            description=api.description,
            routes=api.routes,
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components.setdefault("securitySchemes", {}).update(
            {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`cf_...`), the service key, or a JWT.",
                },
                "apikey": {"type": "apiKey", "in": "header", "name": "apikey"},
            }
        )
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                fmt = error_format_for(error_formats, path)
                errors = _PROBLEM if fmt is None else _format_content(fmt)
                _document(operation, method.upper(), path, group_limits, anon, errors)
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


def _document(
    operation: dict[str, Any],
    method: str,
    path: str,
    group_limits: dict[str, limits.RateLimitItem],
    anon: frozenset[str],
    errors: dict[str, Any],
) -> None:
    group = route_group(method, path)
    item = group_limits[group]
    if group in SERVICE_ONLY_GROUPS:
        access, statuses = "service role only", ["401", "403"]
    elif group in anon:
        access, statuses = "anyone; credentials optional (anonymous callers count by IP)", ["401"]
    else:
        access, statuses = "an authenticated user or the service role", ["401", "403"]
    operation["security"] = [{"bearer": []}, {"apikey": []}]
    if group in anon:
        operation["security"].append({})
    note = (
        f"**Access**: {access}. **Limit**: route group `{group}`, {item.amount} requests "
        f"per {item.get_expiry()} s per caller."
    )
    operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # Any route may meet a limit, an unexpected error, or an unreachable identity
    # provider while verifying a token: the gate answers those before the route runs.
    statuses += ["404", "429", "500", "503"]
    if method in ("POST", "PUT", "PATCH"):
        statuses.append("413")
    if method == "DELETE":
        statuses.append("409")
    for status in statuses:
        responses.setdefault(status, {"description": _ERRORS[status]})
    for status, response in responses.items():
        if status[0] in "45":
            response["content"] = errors
            response.setdefault("description", _ERRORS.get(status, "Error"))
        response.setdefault("headers", {}).update(_HEADERS)
    responses["429"]["headers"]["Retry-After"] = {
        "description": "Seconds until a request may succeed again.",
        "schema": {"type": "integer"},
    }
