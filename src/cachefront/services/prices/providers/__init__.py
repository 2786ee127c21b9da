"""Where prices come from: Binance (crypto) and Yahoo Finance (stocks, ETFs, FX)."""

from cachefront.services.prices.providers.base import PriceProvider, UnknownAssetError

__all__ = ["PriceProvider", "UnknownAssetError"]
