"""Cache namespace and key scheme of ephemeris records: one entry per (body, grid instant)."""

from __future__ import annotations

from datetime import UTC, datetime

from cachefront.services.ephemeris.bodies import Body

__all__ = ["NAMESPACE", "instant_of", "record_key"]

# Bumped when the record's JSON shape changes, so old entries are simply never read.
NAMESPACE = "ephemeris.v1"


def record_key(body: Body | str, at: datetime) -> str:
    """``<body>:<unix seconds>``; integer seconds so the hot path can build it without datetimes."""
    return f"{body}:{int(at.timestamp())}"


def instant_of(key: str) -> datetime:
    """The grid instant a record key describes."""
    return datetime.fromtimestamp(int(key.rsplit(":", 1)[1]), UTC)
