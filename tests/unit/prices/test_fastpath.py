"""PricesFastRoute: which requests it maps to a cache key, and which it leaves to the app."""

from __future__ import annotations

import pytest

from cachefront.services.prices.fastpath import PricesFastRoute
from cachefront.services.prices.keys import LATEST_NAMESPACE

ROUTE = PricesFastRoute()


@pytest.mark.parametrize(
    ("path", "key"),
    [("/v1/prices/BTC", "BTC"), ("/v1/prices/btc", "BTC"), ("/v1/prices/EURUSD=X", "EURUSD=X")],
)
def test_a_single_price_maps_to_its_key(path: str, key: str) -> None:
    assert ROUTE.resolve(path, b"", 0.0) == (LATEST_NAMESPACE, key)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/prices/", b""),
        ("/v1/prices/BTC/history", b""),
        ("/v1/prices/BTC", b"x=1"),
        ("/v1/prices/B TC", b""),
        ("/v1/prices/" + "A" * 33, b""),
    ],
)
def test_anything_else_takes_the_full_path(path: str, query: bytes) -> None:
    assert ROUTE.resolve(path, query, 0.0) is None
