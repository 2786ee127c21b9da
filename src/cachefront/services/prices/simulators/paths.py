"""Deterministic synthetic prices: every symbol gets its own stable geometric random walk.

The walk is daily: the log close moves by a normal step drawn from a generator
seeded by (symbol, block of 256 days), so a symbol's history is the same in every
run and any symbol can be invented on the spot. It is anchored at ``ANCHOR`` and
walked both ways from there, so recent days cost little to reach. Hourly values
interpolate between daily closes with a little noise of their own; weekly and
monthly bars aggregate the daily ones.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

__all__ = ["ANCHOR", "Bar", "PricePath", "aggregate", "uniform"]

ANCHOR = date(2024, 1, 1)
_MASK = (1 << 64) - 1
_BLOCK = 256
# Generator seeds must not be negative; blocks before the anchor are.
_BLOCK_OFFSET = 1 << 32


def _mix(value: int) -> int:
    """splitmix64: a well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def uniform(seed: int, *keys: int) -> float:
    """A number in (0, 1) fixed by ``seed`` and ``keys``."""
    value = seed
    for key in keys:
        value = _mix(value ^ (key & _MASK))
    return ((value >> 11) + 0.5) / float(1 << 53)


def _normal(seed: int, *keys: int) -> float:
    # Box-Muller on two hashed uniforms.
    first = uniform(seed, *keys, 1)
    second = uniform(seed, *keys, 2)
    return math.sqrt(-2.0 * math.log(first)) * math.cos(2.0 * math.pi * second)


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
    """The walk of one symbol; values are computed a block of days at a time and kept."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seed = int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest())
        # Prices from 1 to 1,000 and daily volatility from 1% to 4%, per symbol.
        self._start_log = math.log(10.0 ** (3.0 * uniform(self.seed, 0)))
        self.volatility = 0.01 + 0.03 * uniform(self.seed, 1)
        self._volume = 1e4 * 10.0 ** (3.0 * uniform(self.seed, 2))
        # Block b holds the log closes of days ANCHOR + b * _BLOCK ... + _BLOCK - 1.
        self._blocks: dict[int, npt.NDArray[np.float64]] = {}

    def _steps(self, block: int) -> npt.NDArray[np.float64]:
        """The daily moves of a block's days: one generator call per block, not per day."""
        generator = np.random.default_rng([self.seed, block + _BLOCK_OFFSET])
        steps: npt.NDArray[np.float64] = self.volatility * generator.standard_normal(_BLOCK)
        return steps

    def _filled(self, block: int, first: float, steps: npt.NDArray[np.float64]) -> None:
        """Store a block from its first day's log close and its moves."""
        walk = np.empty(_BLOCK)
        walk[0] = first
        walk[1:] = first + np.cumsum(steps[1:])
        self._blocks[block] = walk

    def _block(self, block: int) -> npt.NDArray[np.float64]:
        found = self._blocks.get(block)
        if found is not None:
            return found
        if not self._blocks:
            self._filled(0, self._start_log, self._steps(0))
        # Walk from the nearest block already known, forwards or backwards.
        while block not in self._blocks:
            last, first = max(self._blocks), min(self._blocks)
            if block > last:
                steps = self._steps(last + 1)
                self._filled(last + 1, self._blocks[last][-1] + steps[0], steps)
            else:
                later_first = self._blocks[first][0] - self._steps(first)[0]
                steps = self._steps(first - 1)
                # ``later_first`` is the last day of the earlier block.
                self._filled(first - 1, later_first - float(np.sum(steps[1:])), steps)
        return self._blocks[block]

    def close_log(self, day: date) -> float:
        """The log close at the end of ``day`` (UTC)."""
        block, index = divmod((day - ANCHOR).days, _BLOCK)
        return float(self._block(block)[index])

    def daily(self, day: date) -> Bar:
        """The bar of ``day``: opens at the previous day's close, closes at this day's."""
        opened = math.exp(self.close_log(day - timedelta(days=1)))
        close = math.exp(self.close_log(day))
        ordinal = day.toordinal()
        high = max(opened, close) * (1.0 + self.volatility * uniform(self.seed, 4, ordinal))
        low = min(opened, close) * (1.0 - 0.5 * self.volatility * uniform(self.seed, 5, ordinal))
        volume = self._volume * (0.5 + uniform(self.seed, 6, ordinal))
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
        high = max(opened, close) * (1.0 + spread * uniform(self.seed, 8, key))
        low = min(opened, close) * (1.0 - spread * uniform(self.seed, 9, key))
        volume = self._volume / 24.0 * (0.5 + uniform(self.seed, 10, key))
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
