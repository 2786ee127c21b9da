"""Responses from cache entries: the stored bytes, caching headers, 304 on a matching ETag."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.responses import Response

from cachefront.http.cache_headers import cache_headers, etag_matches

__all__ = ["PROBLEM_RESPONSES", "cached_response"]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Invalid input (problem+json naming what was wrong)",
        "content": {"application/problem+json": {}},
    },
    503: {
        "description": "No provider could answer (problem+json)",
        "content": {"application/problem+json": {}},
    },
}


def cached_response(
    request: Request,
    *,
    body: bytes,
    etag: str,
    tier: str,
    stored_at: float,
    fresh_until: float,
) -> Response:
    """A JSON response of already-serialized ``body``, or 304 when the client has it."""
    headers = cache_headers(
        etag=etag, tier=tier, stored_at=stored_at, fresh_until=fresh_until, now=time.time()
    )
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
