"""Local stand-ins for Binance and Yahoo Finance, with synthetic prices for any symbol."""

from cachefront.services.prices.simulators.binance import (
    BinanceConfig,
    RunningBinance,
    create_binance,
    serve_binance,
)
from cachefront.services.prices.simulators.paths import PricePath
from cachefront.services.prices.simulators.yahoo import (
    RunningYahoo,
    YahooConfig,
    create_yahoo,
    serve_yahoo,
)
from cachefront.simulators.running import RunningServer

__all__ = [
    "BinanceConfig",
    "PricePath",
    "RunningBinance",
    "RunningServer",
    "RunningYahoo",
    "YahooConfig",
    "create_binance",
    "create_yahoo",
    "serve_binance",
    "serve_yahoo",
]
