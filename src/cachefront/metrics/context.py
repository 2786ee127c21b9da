"""Per-request counters carried in a context variable, so deep code can report to the request.

The HTTP layer opens a ``RequestTally`` for each request; the upstream client adds to it
for every call and the cache engine notes which tier answered. Background work runs
without one, and then the notes go nowhere.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestTally", "current_tally", "note_cache_tier", "note_upstream_call"]


@dataclass(slots=True)
class RequestTally:
    upstream_calls: int = 0
    cache_tier: str | None = None


current_tally: ContextVar[RequestTally | None] = ContextVar("cachefront_tally", default=None)


def note_upstream_call() -> None:
    """Count one upstream call against the request being answered, if any."""
    tally = current_tally.get()
    if tally is not None:
        tally.upstream_calls += 1


def note_cache_tier(tier: str) -> None:
    """Record which cache tier answered the request being answered, if any."""
    tally = current_tally.get()
    if tally is not None:
        tally.cache_tier = tier
