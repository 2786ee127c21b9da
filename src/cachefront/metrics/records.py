"""The records the metrics recorder buffers: one per request, one per upstream call.

The upstream call's record is the upstream client's own (``cachefront.upstream.records``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cachefront.upstream.records import Outcome, UpstreamCallRecord

__all__ = ["Outcome", "RequestRecord", "UpstreamCallRecord"]


@dataclass(slots=True, frozen=True)
class RequestRecord:
    """One answered HTTP request. ``ts`` is epoch seconds at arrival."""

    ts: float
    method: str
    route: str
    status: int
    latency_ms: float
    cache_tier: str | None
    upstream_calls: int
