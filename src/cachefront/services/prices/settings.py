"""The prices room's settings: providers, budgets, refresh, batches and history retention.

Read from the same environment as the platform's (``CACHEFRONT_BINANCE_URL``,
``CACHEFRONT_YAHOO_BUDGET``, ...); the platform's ``Settings`` holds one of these:
``settings.room(PricesSettings)``.
"""

from __future__ import annotations

from pydantic import Field

from cachefront.config import CommaList, RoomSettings

__all__ = [
    "DEFAULT_BINANCE_URL",
    "DEFAULT_YAHOO_COOKIE_URL",
    "DEFAULT_YAHOO_URL",
    "PricesSettings",
]

DEFAULT_BINANCE_URL = "https://api.binance.com"
DEFAULT_YAHOO_URL = "https://query2.finance.yahoo.com"
# Yahoo hands out the session cookie its crumb is tied to from this host.
DEFAULT_YAHOO_COOKIE_URL = "https://fc.yahoo.com"


class PricesSettings(RoomSettings):
    """Everything the prices room reads from ``CACHEFRONT_*``."""

    prices_providers: CommaList = Field(
        default_factory=lambda: ["binance", "yahoo"],
        description="Providers the room calls; assets of others are listed but not priced.",
    )
    binance_url: str = DEFAULT_BINANCE_URL
    binance_budget: str = Field(
        default="3000/minute",
        description="Outbound budget for Binance in request weight (half the published "
        "6,000/minute per IP), in the `limits` notation, shared via Redis.",
    )
    binance_published_weight: int = Field(
        default=6000,
        ge=1,
        description="The request weight per minute Binance allows one IP (its published "
        "REQUEST_WEIGHT limit, which it has changed before): X-MBX-USED-WEIGHT-1m counts "
        "against it and is scaled onto the budget.",
    )
    binance_background_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of the Binance budget background work (refresh, backfill) may use.",
    )
    yahoo_url: str = DEFAULT_YAHOO_URL
    yahoo_cookie_url: str = Field(
        default=DEFAULT_YAHOO_COOKIE_URL,
        description="Where Yahoo's session cookie is fetched before asking for a crumb.",
    )
    yahoo_budget: str = Field(
        default="120/minute",
        description="Outbound budget for Yahoo in requests (Yahoo publishes no limits).",
    )
    yahoo_background_share: float = Field(default=0.5, gt=0, le=1)
    yahoo_batch_size: int = Field(
        default=50,
        ge=1,
        le=200,
        description="Symbols per Yahoo multi-symbol quote call.",
    )
    prices_refresh_seconds: float = Field(
        default=60.0,
        ge=5,
        description="How often the periodic task refreshes every active asset's latest price.",
    )
    prices_batch_max_symbols: int = Field(default=1000, ge=1, le=10_000)
    prices_stale_days: float = Field(
        default=7.0,
        ge=0,
        description="How long a last price may answer, marked stale, while its provider is down.",
    )
    prices_keep_daily_days: int = Field(
        default=365,
        ge=0,
        description="Daily candles older than this are dropped once rolled up into weeks "
        "and months.",
    )
    prices_keep_weekly_days: int = Field(default=3 * 365, ge=0)
    prices_keep_all_daily: bool = Field(
        default=False,
        description="Keep every daily candle (no daily retention); its size is reported.",
    )
    prices_partitions_ahead_years: int = Field(default=1, ge=0, le=10)
