"""The AI room's measured costs for the platform's stats: the ledger's sums per provider.

Providers bill per token, so a per-call price would be off by the ratio of a long
answer to a short one; the ledger already holds each call's cost from the price table
and each hit's saving, and the stats take these sums instead of their estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.rooms import MeasuredCost
from cachefront.services.ai.quota import QUERIES

__all__ = ["measured_costs"]


async def measured_costs(
    engine: AsyncEngine, since: datetime, until: datetime
) -> Sequence[MeasuredCost]:
    """One figure per provider the ledger saw between ``since`` and ``until``, named as
    in the ledger (the room names them as its upstream clients)."""
    # The stats are the operator's: every caller's rows, whoever asks (route or CLI).
    with acting_as_service():
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    QUERIES.text("cost_by_provider"), {"since": since, "until": until}
                )
            ).mappings()
            return [
                MeasuredCost(
                    provider=str(row["provider"]),
                    cost=float(row["cost_usd"]),
                    saved=float(row["saved_usd"]),
                    tokens=int(row["tokens"]),
                )
                for row in rows
            ]
