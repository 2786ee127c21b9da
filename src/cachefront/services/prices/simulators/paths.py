"""Deterministic synthetic prices: every symbol gets its own stable geometric random walk.

The walk is daily: the log close moves by a normal step drawn from a hash of
(symbol, day), so a symbol's history is the same in every run and any symbol can be
invented on the spot. It is anchored at ``ANCHOR`` and walked both ways from there,
so recent days cost little to reach. Hourly values interpolate between daily closes
with a little noise of their own; weekly and monthly bars aggregate the daily ones.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["ANCHOR", "Bar", "PricePath", "aggregate", "is_weekday"]

ANCHOR = date(2024, 1, 1)
_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """splitmix64: a well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _uniform(seed: int, *keys: int) -> float:
    """A number in (0, 1) fixed by ``seed`` and ``keys``."""
    value = seed
    for key in keys:
        value = _mix(value ^ (key & _MASK))
    return ((value >> 11) + 0.5) / float(1 << 53)


def _normal(seed: int, *keys: int) -> float:
    # Box-Muller on two hashed uniforms.
    first = _uniform(seed, *keys, 1)
    second = _uniform(seed, *keys, 2)
    return math.sqrt(-2.0 * math.log(first)) * math.cos(2.0 * math.pi * second)


def is_weekday(day: date) -> bool:
    return day.weekday() < 5


@dataclass(frozen=True, slots=True)
class Bar:
    """One synthetic OHLCV bar."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class PricePath:
    """The walk of one symbol; values are computed on first use and kept."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seed = int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest())
        # Prices from 1 to 1,000 and daily volatility from 1% to 4%, per symbol.
        self._start_log = math.log(10.0 ** (3.0 * _uniform(self.seed, 0)))
        self.volatility = 0.01 + 0.03 * _uniform(self.seed, 1)
        self._volume = 1e4 * 10.0 ** (3.0 * _uniform(self.seed, 2))
        self._forward = array("d", [self._start_log])  # close of ANCHOR + i days
        self._backward = array("d")  # close of ANCHOR - 1 - i days

    def _step(self, offset: int) -> float:
        return self.volatility * _normal(self.seed, 3, offset)

    def close_log(self, day: date) -> float:
        """The log close at the end of ``day`` (UTC)."""
        offset = (day - ANCHOR).days
        if offset >= 0:
            while len(self._forward) <= offset:
                self._forward.append(self._forward[-1] + self._step(len(self._forward)))
            return self._forward[offset]
        back = -offset - 1
        while len(self._backward) <= back:
            later = self._backward[-1] if self._backward else self._start_log
            # Going back, the close of day d-1 is that of d less d's step.
            self._backward.append(later - self._step(-len(self._backward)))
        return self._backward[back]

    def daily(self, day: date) -> Bar:
        """The bar of ``day``: opens at the previous day's close, closes at this day's."""
        opened = math.exp(self.close_log(day - timedelta(days=1)))
        close = math.exp(self.close_log(day))
        ordinal = day.toordinal()
        high = max(opened, close) * (1.0 + self.volatility * _uniform(self.seed, 4, ordinal))
        low = min(opened, close) * (1.0 - 0.5 * self.volatility * _uniform(self.seed, 5, ordinal))
        volume = self._volume * (0.5 + _uniform(self.seed, 6, ordinal))
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return Bar(start, opened, high, low, close, round(volume, 4))

    def _hour_log(self, day: date, hour: int) -> float:
        """Log price at ``hour`` o'clock of ``day`` (0 = the previous day's close)."""
        before = self.close_log(day - timedelta(days=1))
        if hour == 0:
            return before
        after = self.close_log(day)
        if hour >= 24:
            return after
        noise = 0.2 * self.volatility * _normal(self.seed, 7, day.toordinal() * 24 + hour)
        return before + (after - before) * hour / 24.0 + noise

    def hourly(self, start: datetime) -> Bar:
        """The bar of the hour beginning at ``start`` (UTC, on the hour)."""
        day = start.astimezone(UTC).date()
        hour = start.astimezone(UTC).hour
        opened = math.exp(self._hour_log(day, hour))
        close = math.exp(self._hour_log(day, hour + 1))
        key = day.toordinal() * 24 + hour
        spread = 0.2 * self.volatility
        high = max(opened, close) * (1.0 + spread * _uniform(self.seed, 8, key))
        low = min(opened, close) * (1.0 - spread * _uniform(self.seed, 9, key))
        volume = self._volume / 24.0 * (0.5 + _uniform(self.seed, 10, key))
        return Bar(start, opened, high, low, close, round(volume, 4))

    def spot(self, moment: datetime) -> float:
        """The price at ``moment``: between the hourly values around it."""
        moment = moment.astimezone(UTC)
        day = moment.date()
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
        hour, rest = divmod(seconds, 3600)
        left = self._hour_log(day, hour)
        right = self._hour_log(day, hour + 1)
        return math.exp(left + (right - left) * rest / 3600.0)


def aggregate(start: datetime, bars: list[Bar]) -> Bar:
    """One bar of ``bars`` (oldest first): first open, max high, min low, last close."""
    return Bar(
        start,
        bars[0].open,
        max(bar.high for bar in bars),
        min(bar.low for bar in bars),
        bars[-1].close,
        round(sum(bar.volume for bar in bars), 4),
    )
