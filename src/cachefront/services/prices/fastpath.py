"""Maps `GET /v1/prices/{symbol}` to its cache key without the framework (hot path)."""

from __future__ import annotations

from cachefront.services.prices.keys import LATEST_NAMESPACE, latest_key

__all__ = ["PricesFastRoute"]

# Longer paths are not symbols; they and odd characters take the full path, which explains.
_MAX_SYMBOL = 32
_SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_=^")


class PricesFastRoute:
    """Maps a request for one latest price to ``(namespace, key)``, or None for the full path."""

    prefix = "/v1/prices/"
    template = "/v1/prices/{symbol}"

    def resolve(self, path: str, query: bytes, now: float) -> tuple[str, str] | None:
        symbol = path[len(self.prefix) :]
        if query or not symbol or len(symbol) > _MAX_SYMBOL:
            return None
        if not _SYMBOL_CHARS.issuperset(symbol):
            return None  # "BTC/history", spaces, ...: not a single price
        return LATEST_NAMESPACE, latest_key(symbol.upper())
