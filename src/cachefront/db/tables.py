"""Imports every room's tables so the shared metadata knows the whole schema."""

from __future__ import annotations

from cachefront.auth.tables import api_keys
from cachefront.cache.tables import cache_entries
from cachefront.jobs.tables import jobs
from cachefront.metrics.tables import request_metrics, upstream_calls

__all__ = ["api_keys", "cache_entries", "jobs", "request_metrics", "upstream_calls"]
