"""The records the metrics recorder buffers: one per request, one per upstream call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Outcome", "RequestRecord", "UpstreamCallRecord"]

Outcome = Literal[
    "ok", "http_error", "timeout", "connect_error", "circuit_open", "budget_exhausted"
]


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


@dataclass(slots=True, frozen=True)
class UpstreamCallRecord:
    """One logical upstream call (all its attempts). ``ts`` is epoch seconds at start."""

    ts: float
    provider: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    attempts: int
    outcome: Outcome
    priority: str
    error: str | None = None
