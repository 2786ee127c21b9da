"""The usage ledger's writer: rows gathered in memory, written in batches off the request path.

A call's ledger row is added without waiting; a background task writes what has
gathered every ``FLUSH_SECONDS`` in one ``INSERT ... SELECT FROM unnest`` per batch
(``sql/queries.sql``, ``record_many``), so a thousand calls cost one statement rather
than a thousand transactions. Closing writes what is left. While the database does not
answer, rows wait for the next flush, up to ``MAX_WAITING_ROWS`` (the oldest go first,
with a warning): a lost ledger row must never fail a call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.flush_loop import FlushLoop
from cachefront.services.ai.quota_postgres import QUERIES

__all__ = ["BATCH_ROWS", "FLUSH_SECONDS", "MAX_WAITING_ROWS", "LedgerRow", "LedgerWriter"]

log = logging.getLogger(__name__)

# How often gathered rows are written: the most a ledger reader lags behind the calls.
FLUSH_SECONDS = 0.25
# Rows per statement: large enough that a busy second is one or two statements.
BATCH_ROWS = 2000
# What a process keeps while the database is away (a few minutes of a busy server).
MAX_WAITING_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One provider call or cache hit, as ``ai_usage`` stores it (fields in column order)."""

    owner: str
    at: datetime
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost_usd: float
    saved_usd: float
    cached: bool
    ok: bool


_COLUMNS = tuple(field.name for field in fields(LedgerRow))


class LedgerWriter:
    """Gathers ledger rows and writes them in batches, as the service (rows of every caller)."""

    def __init__(self, engine: AsyncEngine, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.engine = engine
        self._rows: list[LedgerRow] = []
        self._writing = asyncio.Lock()
        self._loop = FlushLoop(self.flush, flush_seconds, self._writing, name="ai-ledger-flush")

    def add(self, row: LedgerRow) -> None:
        """Keep ``row`` for the next batch; never waits."""
        self._rows.append(row)
        if not self._loop.running:
            self._loop.start()

    def __len__(self) -> int:
        return len(self._rows)

    async def flush(self) -> int:
        """Write every row gathered so far; how many were written."""
        async with self._writing:
            rows, self._rows = self._rows, []
            written = 0
            try:
                for start in range(0, len(rows), BATCH_ROWS):
                    await self._write(rows[start : start + BATCH_ROWS])
                    written = start + min(BATCH_ROWS, len(rows) - start)
            except Exception:  # the calls were answered; their rows wait for the next try
                self._keep(rows[written:])
                log.warning(
                    "could not write %d AI ledger rows; kept for the next flush",
                    len(rows) - written,
                    exc_info=True,
                    extra={"action": "ai.ledger_write_failed"},
                )
            return written

    def _keep(self, unwritten: list[LedgerRow]) -> None:
        rows = unwritten + self._rows
        dropped = len(rows) - MAX_WAITING_ROWS
        if dropped > 0:
            log.warning(
                "dropped %d AI ledger rows the database could not take",
                dropped,
                extra={"action": "ai.ledger_rows_dropped", "rows": dropped},
            )
            rows = rows[dropped:]
        self._rows = rows

    async def _write(self, rows: list[LedgerRow]) -> None:
        columns = list(zip(*(astuple(row) for row in rows), strict=True))
        params = {name: list(values) for name, values in zip(_COLUMNS, columns, strict=True)}
        with acting_as_service():
            async with self.engine.begin() as conn:
                await conn.execute(QUERIES.text("record_many"), params)

    async def aclose(self) -> None:
        """Stop the background flush and write what is left."""
        await self._loop.stop()
