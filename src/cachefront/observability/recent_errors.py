"""The newest failed requests and upstream calls (the seed's "recent errors, last 50").

Raw rows are read only from the newest minute on that the per-minute rollups say holds
enough errors (``request_error_cutoff``), so a busy window is not read whole. A failed
request is a 5xx or a 4xx other than a caller's ordinary answers (401, 403, 404, 429);
requests carry no error text. An upstream call's error is the client's message, with
every URL's query and fragment cut, since a provider may take its key in the query.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

__all__ = ["FailedCall", "FailedRequest", "RecentErrors", "load_recent_errors", "redact"]

QUERIES = load_queries("cachefront.observability")
# A query string or fragment after a URL's path, up to the next space or quote.
_URL_TAIL = re.compile(r"(https?://[^\s'\"?#]*)[?#][^\s'\"]*")
# An error text longer than this is cut: the list is for reading, not for logs.
MAX_ERROR_CHARS = 300


class FailedRequest(BaseModel):
    at: datetime
    method: str
    route: str
    status: int
    latency_ms: float
    tier: str | None


class FailedCall(BaseModel):
    at: datetime
    provider: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    attempts: int
    outcome: str
    error: str | None


class RecentErrors(BaseModel):
    since: datetime
    until: datetime
    limit: int
    requests: list[FailedRequest]
    upstream: list[FailedCall]


def redact(error: str | None) -> str | None:
    """``error`` without URL queries or fragments, cut to ``MAX_ERROR_CHARS``."""
    if error is None:
        return None
    cut = _URL_TAIL.sub(r"\1?…", error)
    return cut if len(cut) <= MAX_ERROR_CHARS else cut[: MAX_ERROR_CHARS - 1] + "…"


async def load_recent_errors(
    engine: AsyncEngine, *, hours: float = 24, limit: int = 50, now: datetime | None = None
) -> RecentErrors:
    """The ``limit`` newest failed requests and failed upstream calls of the ``hours``
    before ``now``, newest first."""
    until = now or datetime.now(UTC)
    since = until - timedelta(hours=hours)
    window: dict[str, Any] = {"since": since, "until": until, "limit": limit}
    async with engine.connect() as conn:
        cut = (await conn.execute(QUERIES.text("request_error_cutoff"), window)).scalar()
        lo = {**window, "lo": max(since, cut) if cut is not None else since}
        requests = (await conn.execute(QUERIES.text("recent_request_errors"), lo)).mappings()
        failed = [
            FailedRequest(
                at=r["ts"],
                method=r["method"],
                route=r["route"],
                status=r["status"],
                latency_ms=round(r["latency_ms"], 3),
                tier=r["cache_tier"],
            )
            for r in requests
        ]
        cut = (await conn.execute(QUERIES.text("upstream_error_cutoff"), window)).scalar()
        lo = {**window, "lo": max(since, cut) if cut is not None else since}
        calls = (await conn.execute(QUERIES.text("recent_upstream_errors"), lo)).mappings()
        upstream = [
            FailedCall(
                at=c["ts"],
                provider=c["provider"],
                method=c["method"],
                url=c["url"],
                status=c["status"],
                latency_ms=round(c["latency_ms"], 3),
                attempts=c["attempts"],
                outcome=c["outcome"],
                error=redact(c["error"]),
            )
            for c in calls
        ]
    return RecentErrors(since=since, until=until, limit=limit, requests=failed, upstream=upstream)
