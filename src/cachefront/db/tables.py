"""Imports every room's tables so the shared metadata knows the whole schema."""

from __future__ import annotations

from cachefront.cache.tables import cache_entries
from cachefront.metrics.tables import request_metrics, upstream_calls

__all__ = ["cache_entries", "request_metrics", "upstream_calls"]
