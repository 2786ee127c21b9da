"""What the upstream client reports of each logical call, to whatever recorder it was given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Outcome", "Recorder", "UpstreamCallRecord"]

Outcome = Literal[
    "ok", "http_error", "timeout", "connect_error", "circuit_open", "budget_exhausted"
]


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


Recorder = Callable[[UpstreamCallRecord], None]
"""Called once per logical call, when it ends, in the context of the task that made it.

The composition root passes the metrics recorder, which buffers the record and counts
the call against the request being answered; the client itself knows no metrics.
"""
