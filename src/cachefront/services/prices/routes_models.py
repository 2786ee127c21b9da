"""Request and response shapes of the prices routes, for validation and the OpenAPI schema.

The routes answer with bytes the service built (stored records, joined without
re-serializing); these models document those bytes and validate the batch request.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchRequest", "HistoryAnswer", "HistoryRow", "PriceRecord", "PricesAnswer"]

# A hard ceiling on what is parsed at all; the configured limit is checked after.
_PARSE_MAX = 10_000


class BatchRequest(BaseModel):
    """``POST /v1/prices/batch``: the symbols to price, the app's own (``BTC``, ``AAPL``)."""

    model_config = ConfigDict(extra="forbid")

    symbols: list[str] = Field(min_length=1, max_length=_PARSE_MAX)


class PriceRecord(BaseModel):
    """The latest price of one asset.

    ``source`` is the provider that priced it, or in a batch the cache tier that
    answered (``memory``, ``redis``, ``db``, ``stale``); ``stale`` is true when the
    provider could not be reached and this is the last price known.
    """

    symbol: str
    price: float
    change_24h_pct: float | None
    currency: str
    updated_at: str
    source: str
    stale: bool


class PricesAnswer(BaseModel):
    """Prices of a batch, in the order asked; symbols not priced are listed by reason."""

    prices: list[PriceRecord]
    cached: int = Field(description="Prices answered by the cache tiers.")
    fetched: int = Field(description="Prices fetched from providers for this request.")
    total: int
    unknown: list[str] = Field(description="Symbols no asset (or no provider) knows.")
    failed: list[str] = Field(
        description="Known symbols whose provider could not answer and that have no last price."
    )


class HistoryRow(BaseModel):
    """One candle: ``date`` is a day (``YYYY-MM-DD``), or an hour in UTC for 1d and 7d."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class HistoryAnswer(BaseModel):
    symbol: str
    range: str
    resolution: str = Field(description="1h for 1d|7d, 1d up to 1y, 1wk for 3y|5y, 1mo beyond.")
    data: list[HistoryRow]
    count: int
