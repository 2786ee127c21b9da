"""Which market a Yahoo symbol trades on in the simulator, and when that market is open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Market", "market_of"]


@dataclass(frozen=True, slots=True)
class Market:
    """A market's identity as Yahoo reports it, and its regular session."""

    exchange: str
    full_name: str
    instrument: str
    timezone: str
    currency: str
    always_open: bool = False
    opens: time = time(9, 30)
    closes: time = time(16, 0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def trades_on(self, day: date, holidays: frozenset[str]) -> bool:
        """True when ``day`` (local) has a session: weekdays but holidays, or every day."""
        if self.always_open:
            return True
        return day.weekday() < 5 and day.strftime("%m-%d") not in holidays

    def session_open(self, day: date) -> datetime:
        """The instant the session of ``day`` opens, in UTC (midnight UTC when always open)."""
        if self.always_open:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return datetime.combine(day, self.opens, self.zone).astimezone(UTC)

    def session_close(self, day: date) -> datetime:
        if self.always_open:
            return self.session_open(day) + timedelta(days=1)
        return datetime.combine(day, self.closes, self.zone).astimezone(UTC)

    def is_open(self, moment: datetime, holidays: frozenset[str]) -> bool:
        local = moment.astimezone(self.zone)
        if not self.trades_on(local.date(), holidays):
            return False
        return self.always_open or self.opens <= local.time() < self.closes

    def last_close(self, moment: datetime, holidays: frozenset[str]) -> datetime:
        """When the latest finished session closed, at or before ``moment``."""
        day = moment.astimezone(self.zone).date()
        while True:
            if self.trades_on(day, holidays) and self.session_close(day) <= moment:
                return self.session_close(day)
            day -= timedelta(days=1)


_CRYPTO = Market("CCC", "CCC", "CRYPTOCURRENCY", "UTC", "USD", always_open=True)
_FX = Market("CCY", "CCY", "CURRENCY", "Europe/London", "USD", opens=time(0), closes=time(23, 59))
_INDEX = Market("SNP", "SNP", "INDEX", "America/New_York", "USD")
_LONDON = Market("LSE", "LSE", "EQUITY", "Europe/London", "GBp", opens=time(8), closes=time(16, 30))
_XETRA = Market(
    "GER", "XETRA", "EQUITY", "Europe/Berlin", "EUR", opens=time(9), closes=time(17, 30)
)
_NASDAQ = Market("NMS", "NasdaqGS", "EQUITY", "America/New_York", "USD")


def market_of(symbol: str) -> Market:
    """``BTC-USD`` crypto (24/7), ``EURUSD=X`` FX, ``^GSPC`` an index, ``.L``/``.DE`` Europe,
    anything else a US equity."""
    if symbol.endswith("-USD"):
        return _CRYPTO
    if symbol.endswith("=X"):
        currency = symbol[3:6] if len(symbol) == 8 else "USD"
        return Market(
            "CCY", "CCY", "CURRENCY", _FX.timezone, currency, opens=_FX.opens, closes=_FX.closes
        )
    if symbol.startswith("^"):
        return _INDEX
    if symbol.endswith(".L"):
        return _LONDON
    if symbol.endswith(".DE"):
        return _XETRA
    return _NASDAQ
