"""The upstream call records the metrics recorder buffers: the upstream client's own.

Requests are buffered as plain tuples (``recorder.RequestRow``), the cheapest form for
the hot path; upstream calls as the client's ``UpstreamCallRecord``.
"""

from __future__ import annotations

from cachefront.upstream.records import Outcome, UpstreamCallRecord

__all__ = ["Outcome", "UpstreamCallRecord"]
