"""Responses from cache entries: the stored bytes, caching headers, 304 on a matching ETag."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.responses import Response

from cachefront.http.wire import cache_headers, etag_matches, if_none_match_of, x_cache

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
    """A JSON response of already-serialized ``body``, or 304 when the client has it.

    The headers and the If-None-Match rule are the hot path's (``wire.py``), so a hit
    answers the same whichever path served it.
    """
    raw_etag = etag.encode()
    headers = cache_headers(
        raw_etag, x_cache(tier), stored_at=stored_at, fresh_until=fresh_until, now=time.time()
    )
    if etag_matches(if_none_match_of(request.scope["headers"]), raw_etag):
        response = Response(status_code=304)
    else:
        response = Response(body, media_type="application/json")
    response.raw_headers[:0] = headers
    return response
