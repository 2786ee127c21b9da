"""Latest prices, candles and trading pairs from Binance's spot REST API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx

from cachefront.errors import UpstreamFormatError, UpstreamStatusError
from cachefront.services.prices.models import Candle, LatestQuotes, Quote, Resolution
from cachefront.services.prices.providers.base import (
    HttpRequester,
    UnknownAssetError,
    parse_off_loop,
)
from cachefront.services.prices.providers.binance_format import (
    BINANCE,
    EXCHANGE_INFO_PATH,
    EXCHANGE_INFO_WEIGHT,
    KLINES_LIMIT,
    KLINES_PATH,
    KLINES_WEIGHT,
    TICKER_24HR_PATH,
    TradingPair,
    binance_interval,
    is_symbol,
    parse_error,
    parse_exchange_info,
    parse_klines,
    parse_ticker_24hr,
    symbols_param,
    ticker_24hr_weight,
)
from cachefront.upstream import Priority

__all__ = ["LIST_MAX_SYMBOLS", "BinanceProvider"]

# Past 100 symbols a ``symbols`` list weighs 80, the same as asking for all of them.
LIST_MAX_SYMBOLS = 100


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class BinanceProvider:
    """A price provider over Binance spot, through an HttpRequester that counts weight.

    ``latest`` is one ``/ticker/24hr`` call for any number of symbols; ``history`` pages
    ``/klines`` 1,000 bars at a time; every call passes its request weight as ``cost``.
    """

    name = BINANCE

    def __init__(self, requester: HttpRequester, base_url: str) -> None:
        self._requester = requester
        self._base = base_url.rstrip("/")

    async def _get(
        self, path: str, params: dict[str, str], *, priority: Priority, cost: int
    ) -> tuple[int, bytes]:
        """Status and body of one call; an error status is returned, not raised."""
        try:
            response = await self._requester.request(
                "GET", self._base + path, params=params, priority=priority, cost=cost
            )
        except UpstreamStatusError as exc:
            # The platform client keeps no body for an error status; 400 is still
            # readable: on requests built here it means a symbol Binance does not list.
            if exc.status_code == 400:
                return 400, b""
            raise
        return response.status_code, response.content

    @staticmethod
    def _failed(status: int, body: bytes) -> UpstreamStatusError:
        error = parse_error(body)
        detail = (
            f"code {error.code}: {error.msg}" if error else httpx.codes.get_reason_phrase(status)
        )
        return UpstreamStatusError(BINANCE, status, detail)

    async def _tickers(self, ids: list[str] | None, priority: Priority) -> tuple[int, bytes]:
        """One ``/ticker/24hr`` call: ``ids`` as a ``symbols`` list, or all symbols (None)."""
        params = {} if ids is None else {"symbols": symbols_param(ids)}
        cost = ticker_24hr_weight(None if ids is None else len(ids))
        return await self._get(TICKER_24HR_PATH, params, priority=priority, cost=cost)

    async def latest(
        self, provider_ids: Sequence[str], *, priority: Priority = "user"
    ) -> LatestQuotes:
        """Quotes for ``provider_ids`` in one ``/ticker/24hr`` call (two after a -1121).

        Up to 100 ids go as a ``symbols`` list (weight 2 or 40); more ask for every
        symbol (weight 80, the same as a list of 101). A list with a symbol Binance does
        not list is refused whole with -1121, so the call is made once more for all
        symbols, and the ids missing from that answer are unavailable.
        """
        asked = list(dict.fromkeys(provider_ids))
        # A malformed id would make Binance refuse the whole list (-1100): never send it.
        wanted = [key for key in asked if is_symbol(key)]
        malformed = frozenset(asked) - frozenset(wanted)
        if not wanted:
            return LatestQuotes(quotes={}, unavailable=malformed)
        ids: list[str] | None = wanted if len(wanted) <= LIST_MAX_SYMBOLS else None
        status, body = await self._tickers(ids, priority)
        if status == 400 and ids is not None:
            error = parse_error(body)
            if error is not None and not error.unknown_symbol:
                raise self._failed(status, body)
            status, body = await self._tickers(None, priority)
        if status != 200:
            raise self._failed(status, body)
        every = await parse_off_loop(parse_ticker_24hr, body)
        quotes: dict[str, Quote] = {key: every[key] for key in wanted if key in every}
        missing = frozenset(key for key in wanted if key not in every)
        return LatestQuotes(quotes=quotes, unavailable=missing | malformed)

    async def history(
        self,
        provider_id: str,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        *,
        priority: Priority = "background",
    ) -> list[Candle]:
        """Klines opening in ``[start, end)``, oldest first, 1,000 per call (weight 2 each)."""
        if not is_symbol(provider_id):
            raise UnknownAssetError(BINANCE, provider_id)
        first, stop = _ms(start), _ms(end)
        candles: list[Candle] = []
        while first < stop:
            params = {
                "symbol": provider_id,
                "interval": binance_interval(resolution),
                "startTime": str(first),
                "endTime": str(stop - 1),
                "limit": str(KLINES_LIMIT),
            }
            status, body = await self._get(
                KLINES_PATH, params, priority=priority, cost=KLINES_WEIGHT
            )
            if status == 400:
                error = parse_error(body)
                if error is None or error.unknown_symbol:
                    raise UnknownAssetError(BINANCE, provider_id)
            if status != 200:
                raise self._failed(status, body)
            page = await parse_off_loop(parse_klines, body)
            candles.extend(candle for candle in page if start <= candle.start < end)
            if len(page) < KLINES_LIMIT:
                break
            following = _ms(page[-1].start) + 1
            if following <= first:
                raise UpstreamFormatError(BINANCE, "klines page did not move forward")
            first = following
        return candles

    async def exchange_info(self, *, priority: Priority = "background") -> list[TradingPair]:
        """Every symbol Binance lists, with its base and quote assets and status (weight 20)."""
        status, body = await self._get(
            EXCHANGE_INFO_PATH, {}, priority=priority, cost=EXCHANGE_INFO_WEIGHT
        )
        if status != 200:
            raise self._failed(status, body)
        return parse_exchange_info(body)
