"""The interface every price provider implements."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import httpx

from cachefront.errors import NotFoundError
from cachefront.services.prices.models import Candle, LatestQuotes, Resolution
from cachefront.upstream import Priority

__all__ = [
    "OFF_LOOP_BYTES",
    "HttpRequester",
    "PriceProvider",
    "UnknownAssetError",
    "parse_off_loop",
]

# Answers larger than this are parsed in a thread: Binance's all-symbols ticker
# (megabytes) or ten years of daily bars would hold the event loop for tens of ms.
OFF_LOOP_BYTES = 64 * 1024

T = TypeVar("T")


class UnknownAssetError(NotFoundError):
    """The provider does not know this id (Binance ``-1121``, Yahoo 404)."""

    def __init__(self, provider: str, provider_id: str) -> None:
        super().__init__(f"{provider} does not know {provider_id!r}")
        self.provider = provider
        self.provider_id = provider_id


class HttpRequester(Protocol):
    """What a provider sends its calls through (the platform's ``UpstreamClient`` shape).

    ``cost`` is how many units of the outbound budget each attempt spends (Binance's
    request weight); ``priority`` says whether a user is waiting. The platform client
    raises on an error status; a plain requester may return the response instead, and
    the providers read both.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = "user",
        cost: int = 1,
    ) -> httpx.Response: ...


class PriceProvider(Protocol):
    """A source of latest quotes and OHLCV candles, named as in the assets table."""

    name: str

    async def latest(
        self, provider_ids: Sequence[str], *, priority: Priority = "user"
    ) -> LatestQuotes:
        """Latest quotes of ``provider_ids`` in as few calls as the provider allows.

        Ids the provider does not know are returned in ``unavailable``, never raised.
        """
        ...

    async def history(
        self,
        provider_id: str,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        *,
        priority: Priority = "background",
    ) -> list[Candle]:
        """Candles of ``resolution`` starting in ``[start, end)``, oldest first.

        Bars the provider leaves empty (holidays, halts) are omitted, never zeros.
        Raises ``UnknownAssetError`` when the provider does not know the id.
        """
        ...


async def parse_off_loop(parse: Callable[[bytes], T], body: bytes) -> T:
    """``parse(body)``, in a worker thread when the body is large."""
    if len(body) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse, body)
    return parse(body)
