"""Every table of the schema: the platform's and each room's, all on the shared metadata.

The Alembic env imports this module, so migrations see the whole schema; a room's
tables are defined in its ``tables.py`` and listed by its room object.
"""

from __future__ import annotations

from sqlalchemy import Table

from cachefront.auth.tables import api_keys
from cachefront.cache.tables import cache_entries
from cachefront.jobs.tables import jobs
from cachefront.metrics.tables import request_metrics, upstream_calls
from cachefront.observability.tables import (
    dashboard_tokens,
    health_alerts,
    health_states,
    process_states,
)
from cachefront.services import ROOMS

__all__ = [
    "ROOM_TABLES",
    "api_keys",
    "cache_entries",
    "dashboard_tokens",
    "health_alerts",
    "health_states",
    "jobs",
    "process_states",
    "request_metrics",
    "upstream_calls",
]

ROOM_TABLES: tuple[Table, ...] = tuple(table for room in ROOMS for table in room.tables)
"""The rooms' tables, in the list's order (defined on the shared metadata already)."""
