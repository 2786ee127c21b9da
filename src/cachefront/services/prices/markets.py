"""When markets trade: exchange sessions from exchange_calendars, crypto 24/7, FX on weekdays.

Calendars are built once, off the event loop (pandas work), and turned into sorted
arrays of session opens and closes in epoch seconds, so asking whether a market is
open is a bisection, cheap enough for every asset of every refresh.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cachefront.services.prices.models import Asset, AssetType

__all__ = ["DEFAULT_EXCHANGE", "FX_MARKET", "MarketHours", "Sessions", "build_sessions"]

log = logging.getLogger(__name__)

# Stocks and ETFs without an exchange of their own follow the New York Stock Exchange.
DEFAULT_EXCHANGE = "XNYS"
# Not an exchange_calendars code: the interbank FX market's own hours.
FX_MARKET = "FX"
_WEEK = 7 * 86400.0
# The FX week opens Sunday 22:00 UTC (Sydney) and closes Friday 22:00 UTC (New York).
_FX_OPEN = (6 * 86400.0) + 22 * 3600.0  # seconds after Monday 00:00: Sunday 22:00
_FX_CLOSE = (4 * 86400.0) + 22 * 3600.0  # Friday 22:00
_MONDAY = datetime(2024, 1, 1, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC


@dataclass(frozen=True, slots=True)
class Sessions:
    """Trading sessions of one exchange: parallel sorted opens and closes, epoch seconds."""

    opens: tuple[float, ...]
    closes: tuple[float, ...]

    def is_open(self, at: float) -> bool:
        index = bisect_right(self.opens, at) - 1
        return index >= 0 and at < self.closes[index]

    def closed_since(self, at: float) -> float | None:
        """When the session before ``at`` closed, or None when ``at`` is in a session."""
        index = bisect_right(self.opens, at) - 1
        if index < 0:
            return None
        close = self.closes[index]
        return close if at >= close else None

    def next_open(self, at: float) -> float | None:
        index = bisect_right(self.opens, at)
        return self.opens[index] if index < len(self.opens) else None

    @property
    def until(self) -> float:
        return self.closes[-1] if self.closes else 0.0


@functools.lru_cache(maxsize=64)
def build_sessions(exchange: str, start: date, days: int) -> Sessions:
    """Sessions of ``exchange`` (an exchange_calendars code or alias) from ``start``.

    Blocking (pandas, a few hundred milliseconds); run it in a thread. Remembered per
    process: every app and command in it shares the result. Raises ``KeyError`` for an
    unknown code.
    """
    # A heavy import (pandas), paid only by who builds calendars; the library has no types.
    import exchange_calendars as xcals  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        # The library still uses pandas APIs newer pandas deprecates; nothing to act on here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            calendar = xcals.get_calendar(exchange)
        except xcals.errors.InvalidCalendarName as exc:
            raise KeyError(exchange) from exc
        first = max(start, calendar.first_session.date())
        last = min(start + timedelta(days=days), calendar.last_session.date())
        schedule = calendar.schedule.loc[str(first) : str(last)]
    opens = tuple(float(ts.timestamp()) for ts in schedule["open"])
    closes = tuple(float(ts.timestamp()) for ts in schedule["close"])
    return Sessions(opens, closes)


def _fx_open(at: float) -> bool:
    offset = (at - _MONDAY) % _WEEK
    return not (_FX_CLOSE <= offset < _FX_OPEN)


def _fx_next_open(at: float) -> float:
    offset = (at - _MONDAY) % _WEEK
    return at + (_FX_OPEN - offset) if offset < _FX_OPEN else at


def _fx_closed_since(at: float) -> float | None:
    offset = (at - _MONDAY) % _WEEK
    if _FX_CLOSE <= offset < _FX_OPEN:
        return at - (offset - _FX_CLOSE)
    return None


class MarketHours:
    """Whether an asset's market trades at an instant, and when it opens next.

    Crypto trades always; FX from Sunday 22:00 to Friday 22:00 UTC; stocks and ETFs in
    the sessions of their exchange (``asset.exchange``, default XNYS). An exchange
    without a calendar counts as always open: its assets are priced, never frozen.
    """

    def __init__(self, sessions: Mapping[str, Sessions] | None = None) -> None:
        self._sessions: dict[str, Sessions] = dict(sessions or {})
        self._unknown: set[str] = set()

    @staticmethod
    def market_of(asset: Asset) -> str | None:
        """The market whose hours apply to ``asset``; None when it trades around the clock."""
        if asset.type is AssetType.FX:
            return FX_MARKET
        if asset.type.follows_exchange_hours:
            return (asset.exchange or DEFAULT_EXCHANGE).upper()
        return None

    async def load(self, assets: Iterable[Asset], *, now: float, days: int = 370) -> None:
        """Build the calendars these assets need that are not built yet, in a thread."""
        wanted = {self.market_of(a) for a in assets} - {None, FX_MARKET}
        await self.load_exchanges([m for m in wanted if m is not None], now=now, days=days)

    async def load_exchanges(
        self, exchanges: Iterable[str], *, now: float, days: int = 370
    ) -> None:
        """Build the calendars of these exchange codes that are not built yet, in a thread."""
        # From a week back, by whole days, so every process asks the memo the same thing.
        start = (datetime.fromtimestamp(now, UTC) - timedelta(days=7)).date()
        for exchange in sorted({code.upper() for code in exchanges}):
            known = self._sessions.get(exchange)
            if exchange in self._unknown or (known is not None and known.until > now + 86400):
                continue
            try:
                self._sessions[exchange] = await asyncio.to_thread(
                    build_sessions, exchange, start, days
                )
            except KeyError:
                self._unknown.add(exchange)
                log.warning(
                    "no trading calendar for exchange %r: its assets count as always open",
                    exchange,
                    extra={"action": "prices.unknown_exchange"},
                )

    def is_open(self, asset: Asset, at: float) -> bool:
        market = self.market_of(asset)
        if market is None:
            return True
        if market == FX_MARKET:
            return _fx_open(at)
        sessions = self._sessions.get(market)
        return sessions is None or sessions.is_open(at)

    def closed_since(self, asset: Asset, at: float) -> float | None:
        """When the asset's market last closed if it is closed at ``at``, else None."""
        market = self.market_of(asset)
        if market is None:
            return None
        if market == FX_MARKET:
            return _fx_closed_since(at)
        sessions = self._sessions.get(market)
        return None if sessions is None else sessions.closed_since(at)

    def next_open(self, asset: Asset, at: float) -> float | None:
        """When the asset's market opens next after ``at``; None when unknown or always open."""
        market = self.market_of(asset)
        if market is None:
            return None
        if market == FX_MARKET:
            return _fx_next_open(at)
        sessions = self._sessions.get(market)
        return None if sessions is None else sessions.next_open(at)
