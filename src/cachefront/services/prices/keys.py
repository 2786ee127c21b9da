"""Cache namespaces and key schemes of the prices room: one latest price per symbol."""

from __future__ import annotations

__all__ = ["HISTORY_NAMESPACE", "LATEST_NAMESPACE", "history_key", "latest_key", "normalize_symbol"]

# Bumped when a record's JSON shape changes, so old entries are simply never read.
LATEST_NAMESPACE = "prices.latest.v1"
HISTORY_NAMESPACE = "prices.history.v1"


def normalize_symbol(text: str) -> str:
    """The app's symbol as stored: trimmed and upper case (``btc`` and ``BTC`` are one)."""
    return text.strip().upper()


def latest_key(symbol: str) -> str:
    """The latest price of ``symbol`` (already normalized): the symbol itself.

    The hot path builds it from the URL with no parsing beyond upper-casing.
    """
    return symbol


def history_key(symbol: str, range_name: str, bucket: int) -> str:
    """A history answer of ``symbol`` over ``range_name``, for the time ``bucket`` it ends in."""
    return f"{symbol}:{range_name}:{bucket}"
