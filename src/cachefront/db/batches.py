"""Deleting many rows as a series of short transactions, so no one waits on a long one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["delete_in_batches"]


async def delete_in_batches(
    engine: AsyncEngine, statement: TextClause, params: Mapping[str, Any], *, batch_rows: int
) -> int:
    """Run ``statement`` (which deletes at most ``:batch`` rows) until a batch comes up short.

    Each batch commits on its own: locks are held for one batch only, and an interrupted
    run keeps what it already deleted. Returns the rows deleted in all.
    """
    total = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(statement, {**params, "batch": batch_rows})
        deleted = result.rowcount or 0
        total += deleted
        if deleted < batch_rows:
            return total
