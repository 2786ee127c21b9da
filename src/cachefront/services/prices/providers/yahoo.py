"""Latest prices and candles from Yahoo Finance: the quote and chart APIs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from cachefront.errors import UpstreamStatusError
from cachefront.services.prices.models import Candle, LatestQuotes, Quote, Resolution
from cachefront.services.prices.providers.base import (
    HttpRequester,
    UnknownAssetError,
    parse_off_loop,
)
from cachefront.services.prices.providers.yahoo_format import (
    CHART_PATH,
    QUOTE_PATH,
    YAHOO,
    is_symbol,
    parse_chart,
    parse_error,
    parse_quotes,
    yahoo_interval,
)
from cachefront.services.prices.providers.yahoo_session import (
    YahooCredentials,
    YahooSession,
    yahoo_headers,
)
from cachefront.upstream import Priority

__all__ = ["YahooProvider"]


class YahooProvider:
    """A price provider over Yahoo Finance, through an HttpRequester.

    Latest prices come from the multi-symbol quote endpoint, ``batch_size`` symbols a
    call, which needs the session cookie and its crumb: fetched once, shared, and
    renewed once when Yahoo answers 401 ("Invalid Crumb" / "Invalid Cookie"), after
    which the call is repeated. History comes from the chart API, one symbol a call.
    """

    name = YAHOO

    def __init__(
        self, requester: HttpRequester, base_url: str, cookie_url: str, batch_size: int = 50
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._requester = requester
        self._base = base_url.rstrip("/")
        self._batch_size = batch_size
        self.session = YahooSession(requester, base_url, cookie_url)

    async def _quote_call(
        self, symbols: list[str], credentials: YahooCredentials, priority: Priority
    ) -> tuple[int, bytes]:
        try:
            response = await self._requester.request(
                "GET",
                self._base + QUOTE_PATH,
                params={"symbols": ",".join(symbols), "crumb": credentials.crumb},
                headers=yahoo_headers(credentials.cookie),
                priority=priority,
            )
        except UpstreamStatusError as exc:
            # The platform client keeps no body; a 401 is still the crumb's refusal.
            if exc.status_code == 401:
                return 401, b""
            raise
        return response.status_code, response.content

    async def _batch(self, symbols: list[str], priority: Priority) -> dict[str, Quote]:
        credentials = await self.session.credentials(priority=priority)
        status, body = await self._quote_call(symbols, credentials, priority)
        if status == 401:
            credentials = await self.session.renew(credentials, priority=priority)
            status, body = await self._quote_call(symbols, credentials, priority)
        if status != 200:
            error = parse_error(body)
            raise UpstreamStatusError(YAHOO, status, error.description if error else "")
        return await parse_off_loop(parse_quotes, body)

    async def latest(
        self, provider_ids: Sequence[str], *, priority: Priority = "user"
    ) -> LatestQuotes:
        """Quotes in batches of ``batch_size``; symbols Yahoo leaves out are unavailable."""
        asked = list(dict.fromkeys(provider_ids))
        wanted = [key for key in asked if is_symbol(key)]
        batches = [
            wanted[index : index + self._batch_size]
            for index in range(0, len(wanted), self._batch_size)
        ]
        answers = await asyncio.gather(*(self._batch(batch, priority) for batch in batches))
        quotes: dict[str, Quote] = {}
        for answer in answers:
            quotes.update(answer)
        found = {key: quotes[key] for key in wanted if key in quotes}
        return LatestQuotes(
            quotes=found, unavailable=frozenset(key for key in asked if key not in found)
        )

    async def history(
        self,
        provider_id: str,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        *,
        priority: Priority = "background",
    ) -> list[Candle]:
        """Bars starting in ``[start, end)`` from one chart call; gaps left out, adjclose kept."""
        if not is_symbol(provider_id):
            raise UnknownAssetError(YAHOO, provider_id)
        params = {
            "period1": str(int(start.timestamp())),
            "period2": str(int(end.timestamp())),
            "interval": yahoo_interval(resolution),
            "events": "div,splits",
        }
        url = self._base + CHART_PATH + quote(provider_id, safe="")
        try:
            response = await self._requester.request(
                "GET",
                url,
                params=params,
                headers=yahoo_headers(),
                priority=priority,
            )
        except UpstreamStatusError as exc:
            if exc.status_code == 404:
                raise UnknownAssetError(YAHOO, provider_id) from exc
            raise
        if response.status_code == 404:
            raise UnknownAssetError(YAHOO, provider_id)
        if response.status_code != 200:
            error = parse_error(response.content)
            raise UpstreamStatusError(
                YAHOO, response.status_code, error.description if error else ""
            )
        series = await parse_off_loop(parse_chart, response.content)
        return [candle for candle in series.candles if start <= candle.start < end]
