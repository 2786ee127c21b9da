"""What a call costs by the price table (``CACHEFRONT_AI_PRICES``), in US dollars.

Prices are per million tokens, input and output apart, per resolved model (the name
the provider serves, not an alias); a model missing from the table costs nothing, so
the ledger still counts its tokens.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PriceTable"]

_PER = 1_000_000


class PriceTable:
    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self._prices = dict(prices)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self._prices.get(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / _PER
