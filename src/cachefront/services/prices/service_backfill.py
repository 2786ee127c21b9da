"""Backfill: daily candles of many assets over years, at background priority, resumable.

What is stored already is skipped: only the days before the first stored day and
after the last are asked for, so a backfill interrupted half way (or run again next
week) costs only what is missing. Assets are done one at a time: the providers page
a long span themselves (Binance 1,000 candles a call), every call waits its turn in
the background share of the budget, and users' misses keep the rest.

A budget with no room now (users' refreshes took the background share, a provider's
ban is being waited out) or an open breaker is not the asset's failure: the backfill
pauses and asks again, for up to ``max_wait`` seconds per asset, rather than skipping
through the rest of the list in a burst of refusals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from cachefront.errors import BudgetExhaustedError, CircuitOpenError, UpstreamError
from cachefront.services.prices.models import Asset, Resolution
from cachefront.services.prices.providers import PriceProvider, UnknownAssetError
from cachefront.services.prices.service_ports import CandleStore

__all__ = [
    "DEFAULT_MAX_WAIT_SECONDS",
    "DEFAULT_PAUSE_SECONDS",
    "Advance",
    "BackfillReport",
    "Backfiller",
    "missing_spans",
]

log = logging.getLogger(__name__)

Advance = Callable[[int, int], Awaitable[None]]
"""Report progress: assets done so far, of how many."""

# Refusals that end by themselves: the budget's window moves on, a hold or breaker ends.
_WAIT_OUT = (BudgetExhaustedError, CircuitOpenError)
DEFAULT_PAUSE_SECONDS = 5.0
DEFAULT_MAX_WAIT_SECONDS = 600.0

# A stored span that starts within this of the wanted start is complete: markets are
# closed on weekends and holidays, so the first stored day is rarely the first asked.
_SLACK = timedelta(days=7)


@dataclass(slots=True)
class BackfillReport:
    """What a backfill did: assets done, candles written, skipped and failed assets."""

    assets: int = 0
    candles: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)
    # Symbols that got new candles: their cached history answers are out of date.
    written: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "assets": self.assets,
            "candles": self.candles,
            "skipped": self.skipped,
            "failed": self.failed,
            "unavailable": self.unavailable,
        }


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def missing_spans(
    stored: tuple[date, date] | None, start: date, today: date
) -> list[tuple[datetime, datetime]]:
    """The ``[start, end)`` spans of days from ``start`` through ``today`` not stored yet."""
    end = _midnight(today + timedelta(days=1))
    if stored is None:
        return [(_midnight(start), end)]
    first, last = stored
    spans: list[tuple[datetime, datetime]] = []
    if first - start > _SLACK:
        spans.append((_midnight(start), _midnight(first)))
    if last < today:
        # The last stored day again: it may have been written before its close.
        spans.append((_midnight(last), end))
    return spans


class Backfiller:
    """Fills daily history of assets from their providers into the candle store."""

    def __init__(
        self,
        store: CandleStore,
        providers: dict[str, PriceProvider],
        *,
        mark_unavailable: Callable[[str, str], Awaitable[None]],
        pause: float = DEFAULT_PAUSE_SECONDS,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.providers = providers
        self.mark_unavailable = mark_unavailable
        self.pause = pause
        self.max_wait = max_wait
        self._sleep = sleep

    async def run(
        self,
        assets: Sequence[Asset],
        *,
        years: int,
        today: date,
        advance: Advance | None = None,
    ) -> BackfillReport:
        report = BackfillReport()
        start = today - timedelta(days=round(years * 365.25))
        for done, asset in enumerate(assets, start=1):
            await self._one(asset, start, today, report)
            if advance is not None:
                await advance(done, len(assets))
        return report

    async def _one(self, asset: Asset, start: date, today: date, report: BackfillReport) -> None:
        provider = self.providers.get(asset.provider)
        if provider is None:
            report.failed[asset.symbol] = f"provider {asset.provider!r} is not configured"
            return
        spans = missing_spans(await self.store.stored_span(asset), start, today)
        if not spans:
            report.skipped += 1
            return
        try:
            waited = 0.0
            for span_start, span_end in spans:
                while True:
                    try:
                        candles = await provider.history(
                            asset.provider_id,
                            Resolution.DAY,
                            span_start,
                            span_end,
                            priority="background",
                        )
                        break
                    except _WAIT_OUT:
                        if waited + self.pause > self.max_wait:
                            raise
                        await self._sleep(self.pause)
                        waited += self.pause
                if candles:
                    report.candles += await self.store.write_daily(asset, candles)
                    if report.written[-1:] != [asset.symbol]:
                        report.written.append(asset.symbol)
        except UnknownAssetError:
            await self.mark_unavailable(asset.provider, asset.provider_id)
            report.unavailable.append(asset.symbol)
            return
        except UpstreamError as exc:
            # The next run resumes from what was stored: nothing else to undo.
            report.failed[asset.symbol] = exc.detail
            log.warning(
                "backfill of %s failed: %s",
                asset.symbol,
                exc.detail,
                extra={"action": "prices.backfill_failed", "symbol": asset.symbol},
            )
            return
        report.assets += 1
