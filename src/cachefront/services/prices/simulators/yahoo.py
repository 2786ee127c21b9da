"""A local stand-in for Yahoo Finance, for tests, benchmarks and outage drills.

Real paths and shapes: ``GET /`` sets the session cookie (``A3``) on an answer of
``cookie_status`` (200, or 404 as fc.yahoo.com answers), ``/v1/test/getcrumb`` hands
out a crumb for that cookie, ``/v7/finance/quote?symbols=A,B&crumb=C`` needs both
(401 "Invalid Crumb" or "Invalid Cookie" otherwise; crumbs expire after
``crumb_ttl_seconds``), and
``/v8/finance/chart/{symbol}`` answers bars for ``period1``/``period2`` or ``range``
at 60m, 1d, 1wk and 1mo. Stocks trade on weekdays in their exchange's hours, with a
null bar on the fixed-date ``holidays``; ``-USD`` crypto trades every day. Symbols
that exist are ``symbols`` and any matching ``symbol_pattern``; others answer the
chart's 404 and are left out of quotes. Past ``rate_limit`` requests a minute: 429.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cachefront.services.prices.simulators.calendar import align, following
from cachefront.services.prices.simulators.paths import Bar, PricePath, aggregate
from cachefront.services.prices.simulators.yahoo_markets import Market, market_of
from cachefront.simulators.base import MinuteWindow, SimulatorBase, bound, control_routes
from cachefront.simulators.running import RunningServer

__all__ = ["FIRST_TRADE", "RunningYahoo", "YahooConfig", "create_yahoo", "serve_yahoo"]

FIRST_TRADE = datetime(2010, 1, 4, tzinfo=UTC)
COOKIE_NAME = "A3"
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
VALID_INTERVALS = "[1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 1d, 5d, 1wk, 1mo, 3mo]"
_STEPS = {"60m": "hour", "1h": "hour", "1d": "day", "1wk": "week", "1mo": "month"}
_RANGE_DAYS = {"1d": 1, "5d": 5, "1mo": 31, "3mo": 92, "6mo": 183, "1y": 366, "2y": 731}
_RANGE_DAYS |= {"5y": 1827, "10y": 3653, "max": 100 * 366}
_INTRADAY_DAYS = 730


@dataclass
class YahooConfig:
    """What the simulator does; all of it can change at run time through ``/_config``."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit: int | None = None
    crumb_ttl_seconds: float = 3600.0
    # fc.yahoo.com sets the cookie on a 404 page; 200 suits clients that refuse a 404.
    cookie_status: int = 200
    symbols: list[str] = field(default_factory=list)
    symbol_pattern: str | None = r"\^?[A-Z]{1,5}([.][A-Z]{1,2}|-USD|=X)?|[A-Z]{6}=X"
    holidays: list[str] = field(default_factory=lambda: ["01-01", "07-04", "12-25"])

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be >= 1, or None for no limit")
        if self.cookie_status not in (200, 404):
            raise ValueError("cookie_status must be 200 or 404")
        if self.crumb_ttl_seconds < 0:
            raise ValueError("crumb_ttl_seconds must be >= 0 (0: every crumb is refused)")
        if self.symbol_pattern is not None:
            re.compile(self.symbol_pattern)


@lru_cache(maxsize=4096)
def _path(symbol: str) -> PricePath:
    return PricePath(symbol)


def _finance_error(status: int, code: str, description: str) -> Response:
    body = {"finance": {"result": None, "error": {"code": code, "description": description}}}
    return JSONResponse(body, status_code=status)


def _chart_error(status: int, code: str, description: str) -> Response:
    body = {"chart": {"result": None, "error": {"code": code, "description": description}}}
    return JSONResponse(body, status_code=status)


def _round(value: float) -> float:
    return round(value, 6)


class _Yahoo(SimulatorBase):
    config: YahooConfig

    def __init__(self, config: YahooConfig, seed: int | None, clock: Callable[[], float]) -> None:
        super().__init__(config, seed)
        self._clock = clock
        self._cookies: set[str] = set()
        self._crumbs: dict[str, tuple[str, float]] = {}  # crumb -> (cookie, issued)
        self._window = MinuteWindow()

    def reset_limits(self) -> None:
        self._window.clear()

    def exists(self, symbol: str) -> bool:
        if symbol in self.config.symbols:
            return True
        pattern = self.config.symbol_pattern
        return pattern is not None and re.fullmatch(pattern, symbol) is not None

    def _holidays(self) -> frozenset[str]:
        return frozenset(self.config.holidays)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _serve(
        self, request: Request, label: str, answer: Callable[[Request], Response]
    ) -> Response:
        period = self.arrived(label)
        response = await self._respond(request, answer)
        self.answered(period, response.status_code)
        return response

    async def _respond(self, request: Request, answer: Callable[[Request], Response]) -> Response:
        if await self.delay():
            return PlainTextResponse("Service Unavailable: shutting down", status_code=503)
        retry_after = self._window.retry_after(self.config.rate_limit, self._clock())
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return PlainTextResponse("Too Many Requests\r\n", status_code=429, headers=headers)
        if self.injected_error():
            return PlainTextResponse("Service Unavailable", status_code=503)
        return answer(request)

    # --- the cookie and the crumb ------------------------------------------------

    def _cookie(self, request: Request) -> Response:
        value = f"d=AQAB{secrets.token_urlsafe(24)}&S=AQAAA{secrets.token_urlsafe(8)}"
        self._cookies.add(value)
        self.count("cookies_issued")
        response = PlainTextResponse("", status_code=self.config.cookie_status)
        response.set_cookie(COOKIE_NAME, value, max_age=31557600, path="/", samesite="none")
        return response

    def _session(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE_NAME)
        return value if value in self._cookies else None

    def _crumb(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _finance_error(401, "Unauthorized", "Invalid Cookie")
        crumb = secrets.token_urlsafe(8)[:11]
        self._crumbs[crumb] = (session, self._clock())
        self.count("crumbs_issued")
        return PlainTextResponse(crumb)

    def _authorised(self, request: Request) -> Response | None:
        session = self._session(request)
        if session is None:
            return _finance_error(401, "Unauthorized", "Invalid Cookie")
        issued = self._crumbs.get(request.query_params.get("crumb", ""))
        if issued is None or issued[0] != session:
            return _finance_error(401, "Unauthorized", "Invalid Crumb")
        if self._clock() - issued[1] >= self.config.crumb_ttl_seconds:
            return _finance_error(401, "Unauthorized", "Invalid Crumb")
        return None

    # --- quotes ------------------------------------------------------------------

    def _quote(self, request: Request) -> Response:
        refusal = self._authorised(request)
        if refusal is not None:
            return refusal
        names = [name.strip() for name in request.query_params.get("symbols", "").split(",")]
        names = [name for name in dict.fromkeys(names) if name]
        if not names:
            return _finance_error(400, "Bad Request", "Missing required query parameter=symbols")
        now = self._now()
        result = [self._quote_of(name, now) for name in names if self.exists(name)]
        return JSONResponse({"quoteResponse": {"result": result, "error": None}})

    def _quote_of(self, symbol: str, now: datetime) -> dict[str, Any]:
        market = market_of(symbol)
        path = _path(symbol)
        holidays = self._holidays()
        open_now = market.is_open(now, holidays)
        if market.always_open:
            at = now
            previous = path.spot(align(now, "day"))
        else:
            at = now if open_now else market.last_close(now, holidays)
            # The close of the session before the one ``at`` belongs to.
            previous_close = market.last_close(at - timedelta(seconds=1), holidays)
            if previous_close >= at:
                previous_close = market.last_close(previous_close - timedelta(seconds=1), holidays)
            previous = path.spot(previous_close)
        price = path.spot(at)
        local = now.astimezone(market.zone)
        offset = local.utcoffset() or timedelta(0)
        return {
            "language": "en-US",
            "region": "US",
            "quoteType": market.instrument,
            "typeDisp": market.instrument.title(),
            "quoteSourceName": "Delayed Quote",
            "triggerable": True,
            "currency": market.currency,
            "exchange": market.exchange,
            "exchangeTimezoneName": market.timezone,
            "exchangeTimezoneShortName": local.tzname(),
            "gmtOffSetMilliseconds": int(offset.total_seconds() * 1000),
            "market": "us_market",
            "marketState": "REGULAR" if open_now else "CLOSED",
            "regularMarketChange": _round(price - previous),
            "regularMarketChangePercent": _round((price / previous - 1.0) * 100.0),
            "regularMarketPrice": _round(price),
            "regularMarketTime": int(at.timestamp()),
            "regularMarketPreviousClose": _round(previous),
            "regularMarketDayHigh": _round(max(price, previous)),
            "regularMarketDayLow": _round(min(price, previous)),
            "regularMarketVolume": int(path.daily(at.date()).volume),
            "shortName": f"{symbol} (simulated)",
            "fullExchangeName": market.full_name,
            "priceHint": 2,
            "symbol": symbol,
        }

    # --- charts ------------------------------------------------------------------

    def _chart(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        params = request.query_params
        interval = params.get("interval", "1d")
        step = _STEPS.get(interval)
        if step is None:
            return _chart_error(
                400,
                "Bad Request",
                f"Invalid input - interval={interval} is not supported. "
                f"Valid intervals: {VALID_INTERVALS}",
            )
        if not self.exists(symbol):
            return _chart_error(404, "Not Found", "No data found, symbol may be delisted")
        now = self._now()
        chosen_range = ""
        try:
            if "period1" in params:
                first = datetime.fromtimestamp(int(params["period1"]), UTC)
                last = datetime.fromtimestamp(int(params.get("period2", now.timestamp())), UTC)
            else:
                chosen_range = params.get("range", "1mo")
                if chosen_range not in VALID_RANGES:
                    return _chart_error(
                        422,
                        "Unprocessable Entity",
                        f"Invalid range: {chosen_range}. Valid ranges: {VALID_RANGES}",
                    )
                last = now
                if chosen_range == "ytd":
                    first = datetime(now.year, 1, 1, tzinfo=UTC)
                else:
                    first = now - timedelta(days=_RANGE_DAYS[chosen_range])
        except (ValueError, OverflowError, OSError):
            return _chart_error(
                400, "Bad Request", "Invalid input - period1 and period2 must be epoch seconds"
            )
        last = min(last, now)
        if step == "hour" and first < now - timedelta(days=_INTRADAY_DAYS):
            return _chart_error(
                422,
                "Unprocessable Entity",
                f"1h data not available for startTime={int(first.timestamp())} and "
                f"endTime={int(last.timestamp())}. The requested range must be within "
                f"the last {_INTRADAY_DAYS} days.",
            )
        return JSONResponse(
            self._chart_body(symbol, interval, step, first, last, chosen_range, now)
        )

    def _bars(
        self, symbol: str, market: Market, step: str, first: datetime, last: datetime
    ) -> list[tuple[datetime, Bar | None]]:
        """(timestamp, bar or None for a holiday) in ``[first, last)``."""
        path = _path(symbol)
        holidays = self._holidays()
        found: list[tuple[datetime, Bar | None]] = []
        begin = max(first, FIRST_TRADE)
        if step == "hour":
            moment = align(begin, "hour")
            while moment < last:
                if moment >= begin and market.is_open(moment, holidays):
                    found.append((moment, path.hourly(moment)))
                moment += timedelta(hours=1)
            return found
        day = align(begin, step)
        while day < last:
            end = following(day, step)
            days = []
            cursor = day
            while cursor < end:
                days.append(cursor.date())
                cursor += timedelta(days=1)
            weekdays = [d for d in days if market.always_open or d.weekday() < 5]
            trading = [d for d in weekdays if market.trades_on(d, holidays)]
            # Daily bars are stamped at the session's open; weekly and monthly ones at
            # the open of their first calendar day, as Yahoo does.
            stamp = market.session_open(weekdays[0] if weekdays and step == "day" else days[0])
            if first <= stamp < last:
                if step == "day":
                    if weekdays:
                        bar = path.daily(days[0]) if trading else None
                        found.append((stamp, bar))
                elif trading:
                    found.append((stamp, aggregate(stamp, [path.daily(d) for d in trading])))
            day = end
        return found

    def _chart_body(
        self,
        symbol: str,
        interval: str,
        step: str,
        first: datetime,
        last: datetime,
        chosen_range: str,
        now: datetime,
    ) -> dict[str, Any]:
        market = market_of(symbol)
        path = _path(symbol)
        bars = self._bars(symbol, market, step, first, last)
        local = now.astimezone(market.zone)
        offset = local.utcoffset() or timedelta(0)
        meta: dict[str, Any] = {
            "currency": market.currency,
            "symbol": symbol,
            "exchangeName": market.exchange,
            "fullExchangeName": market.full_name,
            "instrumentType": market.instrument,
            "firstTradeDate": int(FIRST_TRADE.timestamp()),
            "regularMarketTime": int(now.timestamp()),
            "hasPrePostMarketData": False,
            "gmtoffset": int(offset.total_seconds()),
            "timezone": local.tzname(),
            "exchangeTimezoneName": market.timezone,
            "regularMarketPrice": _round(path.spot(now)),
            "chartPreviousClose": _round(path.spot(first)),
            "priceHint": 2,
            "dataGranularity": interval,
            "range": chosen_range,
            "validRanges": VALID_RANGES,
        }
        result: dict[str, Any] = {"meta": meta}
        if not bars:
            result["indicators"] = {"quote": [{}]}
            if step != "hour":
                result["indicators"]["adjclose"] = [{}]
            return {"chart": {"result": [result], "error": None}}
        result["timestamp"] = [int(stamp.timestamp()) for stamp, _ in bars]

        def column(pick: Callable[[Bar], float]) -> list[float | None]:
            return [None if bar is None else _round(pick(bar)) for _, bar in bars]

        result["indicators"] = {
            "quote": [
                {
                    "open": column(lambda bar: bar.open),
                    "close": column(lambda bar: bar.close),
                    "high": column(lambda bar: bar.high),
                    "volume": [None if bar is None else int(bar.volume) for _, bar in bars],
                    "low": column(lambda bar: bar.low),
                }
            ]
        }
        if step != "hour":
            # Dividends make the adjusted close drift below the close further back.
            result["indicators"]["adjclose"] = [
                {
                    "adjclose": [
                        None
                        if bar is None
                        else _round(bar.close * math.exp(-0.01 * (now - stamp).days / 365.25))
                        for stamp, bar in bars
                    ]
                }
            ]
        return {"chart": {"result": [result], "error": None}}

    def routes(self) -> list[Route]:
        def endpoint(label: str, answer: Callable[[Request], Response]) -> Callable[[Request], Any]:
            async def handle(request: Request) -> Response:
                return await self._serve(request, label, answer)

            return handle

        return [
            Route("/", endpoint("/", self._cookie)),
            Route("/v1/test/getcrumb", endpoint("/v1/test/getcrumb", self._crumb)),
            Route("/v7/finance/quote", endpoint("/v7/finance/quote", self._quote)),
            Route("/v8/finance/chart/{symbol}", endpoint("/v8/finance/chart", self._chart)),
        ]


def create_yahoo(
    seed: int | None = None, clock: Callable[[], float] = time.time, **config: Any
) -> Starlette:
    """The simulator as an ASGI app; ``config`` are ``YahooConfig`` fields."""
    simulator = _Yahoo(YahooConfig(**config), seed, clock)
    app = Starlette(
        routes=[*simulator.routes(), *control_routes(simulator)], lifespan=bound(simulator)
    )
    app.state.simulator = simulator
    return app


def serve_yahoo(host: str = "127.0.0.1", port: int = 8903, **config: Any) -> None:
    """Run the simulator under uvicorn until interrupted (``cachefront simulate yahoo``)."""
    uvicorn.run(create_yahoo(**config), host=host, port=port, log_level="info")


class RunningYahoo(RunningServer):
    """The Yahoo simulator on a free port, in a background thread (a context manager).

    ``base_url`` serves both the cookie (``/``) and the API, so it is both the
    provider's ``base_url`` and its ``cookie_url``.
    """

    def __init__(self, seed: int | None = None, **config: Any) -> None:
        super().__init__(create_yahoo(seed, **config), "yahoo-simulator")
