"""Where prices come from: Binance (crypto) and Yahoo Finance (stocks, ETFs, FX)."""

from cachefront.services.prices.providers.base import (
    HttpRequester,
    PriceProvider,
    UnknownAssetError,
)
from cachefront.services.prices.providers.binance import LIST_MAX_SYMBOLS, BinanceProvider
from cachefront.services.prices.providers.binance_format import BinanceError, TradingPair
from cachefront.services.prices.providers.yahoo import YahooProvider
from cachefront.services.prices.providers.yahoo_format import ChartSeries, YahooError
from cachefront.services.prices.providers.yahoo_session import (
    BROWSER_USER_AGENT,
    YahooCredentials,
    YahooSession,
)

__all__ = [
    "BROWSER_USER_AGENT",
    "LIST_MAX_SYMBOLS",
    "BinanceError",
    "BinanceProvider",
    "ChartSeries",
    "HttpRequester",
    "PriceProvider",
    "TradingPair",
    "UnknownAssetError",
    "YahooCredentials",
    "YahooError",
    "YahooProvider",
    "YahooSession",
]
