"""The JSON the prices service stores and serves: price records, batch and history bodies.

A price record is stored once, as the bytes the single-price route and the hot path
serve. Its last two fields are ``source`` and ``stale``, so a batch can state which
tier answered each price by rewriting only the tail of the stored bytes, without
parsing them: a thousand prices cost a thousand slices, not a thousand JSON parses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from cachefront.errors import InvalidInputError
from cachefront.services.prices.models import Asset, Candle, Quote, Resolution

__all__ = [
    "RANGES",
    "HistoryRange",
    "batch_body",
    "format_instant",
    "history_body",
    "parse_range",
    "price_record",
    "served_resolution",
    "with_source",
]

_TAIL = b',"source":'


def format_instant(at: datetime) -> str:
    """``at`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def price_record(asset: Asset, quote: Quote, source: str) -> bytes:
    """The stored record of ``asset``'s latest price; ``source`` and ``stale`` come last."""
    return orjson.dumps(
        {
            "symbol": asset.symbol,
            "price": quote.price,
            "change_24h_pct": quote.change_24h_pct,
            "currency": asset.currency,
            "updated_at": format_instant(quote.at),
            "source": source,
            "stale": False,
        }
    )


def with_source(record: bytes, source: str, *, stale: bool) -> bytes:
    """``record`` with its ``source`` and ``stale`` fields replaced (they are its tail)."""
    cut = record.rfind(_TAIL)
    if cut < 0:
        raise ValueError("not a price record: no source field")
    return b'%s,"source":"%s","stale":%s}' % (
        record[:cut],
        source.encode(),
        b"true" if stale else b"false",
    )


def batch_body(
    prices: Sequence[bytes],
    *,
    cached: int,
    fetched: int,
    unknown: Sequence[str],
    failed: Sequence[str],
) -> bytes:
    """The batch answer: prices in the order asked, counts, and the symbols not priced."""
    return b"".join(
        [
            b'{"prices":[',
            b",".join(prices),
            b'],"cached":%d,"fetched":%d,"total":%d,"unknown":' % (cached, fetched, len(prices)),
            orjson.dumps(list(unknown)),
            b',"failed":',
            orjson.dumps(list(failed)),
            b"}",
        ]
    )


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """A history range a client may ask for: its resolution and how far back it reaches."""

    name: str
    resolution: Resolution
    span: timedelta | None  # None: everything stored

    @property
    def on_demand(self) -> bool:
        """Hourly candles are not stored: they are fetched from the provider and cached."""
        return self.resolution is Resolution.HOUR


RANGES: dict[str, HistoryRange] = {
    r.name: r
    for r in (
        HistoryRange("1d", Resolution.HOUR, timedelta(days=1)),
        HistoryRange("7d", Resolution.HOUR, timedelta(days=7)),
        HistoryRange("1m", Resolution.DAY, timedelta(days=31)),
        HistoryRange("3m", Resolution.DAY, timedelta(days=92)),
        HistoryRange("6m", Resolution.DAY, timedelta(days=183)),
        HistoryRange("1y", Resolution.DAY, timedelta(days=366)),
        HistoryRange("3y", Resolution.WEEK, timedelta(days=3 * 366)),
        HistoryRange("5y", Resolution.WEEK, timedelta(days=5 * 366)),
        HistoryRange("10y", Resolution.MONTH, timedelta(days=10 * 366)),
        HistoryRange("all", Resolution.MONTH, None),
    )
}


def parse_range(text: str) -> HistoryRange:
    """The range named ``text``; a 422 naming the field and the known ranges otherwise."""
    found = RANGES.get(text.strip().lower())
    if found is None:
        raise InvalidInputError(
            f"unknown range {text!r}; known: {', '.join(RANGES)}", field="range"
        )
    return found


def _row(candle: Candle, hourly: bool) -> dict[str, object]:
    return {
        "date": format_instant(candle.start) if hourly else candle.start.strftime("%Y-%m-%d"),
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
    }


# Stored resolutions from finest to coarsest: where retention has thinned one out, a
# range is served from the next.
_COARSER: dict[Resolution, Resolution] = {
    Resolution.DAY: Resolution.WEEK,
    Resolution.WEEK: Resolution.MONTH,
}


def served_resolution(
    spec: HistoryRange, kept_for: Callable[[Resolution], timedelta | None]
) -> Resolution:
    """The finest stored resolution, from the range's own, whose retention covers the range.

    Retention drops daily rows after a year and weekly ones after three by default, so
    ``5y`` at weekly resolution would come back with only three years: it is served
    monthly instead, and the answer's ``resolution`` says so. ``all`` is monthly, which
    is kept forever.
    """
    resolution = spec.resolution
    while resolution in _COARSER:
        kept = kept_for(resolution)
        if kept is None or (spec.span is not None and spec.span <= kept + _RETENTION_SLACK):
            break
        resolution = _COARSER[resolution]
    return resolution


# Retention cuts at whole weeks and months, so a range a few days longer than what is
# kept still has all but its oldest bar or two: close enough to keep the finer bars.
_RETENTION_SLACK = timedelta(days=7)


def history_body(
    symbol: str, spec: HistoryRange, candles: Sequence[Candle], resolution: Resolution
) -> bytes:
    """The history answer: rows oldest first, each ``{date, open, high, low, close, volume}``."""
    hourly = spec.on_demand
    return orjson.dumps(
        {
            "symbol": symbol,
            "range": spec.name,
            "resolution": resolution.value,
            "data": [_row(c, hourly) for c in candles],
            "count": len(candles),
        }
    )
