"""The services of this deployment: the one explicit list of rooms the platform plugs in.

Adding a service means a room under ``services/<name>/``, an entry here and a
migration for its tables (docs/architecture.md, "Rooms: how a service plugs in").
"""

from __future__ import annotations

from cachefront.rooms import AnyRoom
from cachefront.services.ai.room import ROOM as AI
from cachefront.services.ephemeris.room import ROOM as EPHEMERIS
from cachefront.services.prices.room import ROOM as PRICES

__all__ = ["ROOMS"]

ROOMS: tuple[AnyRoom, ...] = (EPHEMERIS, PRICES, AI)
