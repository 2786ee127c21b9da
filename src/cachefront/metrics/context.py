"""Per-request counters carried in a context variable, opened by the HTTP layer for each request.

The metrics recorder counts each upstream call against the request being answered
(the upstream client hands it every call's record); the answering tier is read off
the response's ``X-Cache`` header. The cache and the upstream client know nothing of
this. Work without a request (jobs), and work the cache does in the background
(revalidations, overtime), counts against none.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from cachefront.cache.background import in_background

__all__ = ["RequestTally", "current_tally", "note_upstream_call"]


@dataclass(slots=True)
class RequestTally:
    upstream_calls: int = 0
    cache_tier: str | None = None


current_tally: ContextVar[RequestTally | None] = ContextVar("cachefront_tally", default=None)


def note_upstream_call() -> None:
    """Count one upstream call against the request being answered, if any."""
    tally = current_tally.get()
    if tally is not None and not in_background():
        tally.upstream_calls += 1
