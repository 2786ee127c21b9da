"""A local stand-in for Binance's spot REST API, for tests, benchmarks and outage drills.

Real paths, parameters, answer shapes and header names: ``/api/v3/ticker/price``,
``/api/v3/ticker/24hr``, ``/api/v3/klines`` and ``/api/v3/exchangeInfo``, each charged
its published request weight. Every answer carries ``X-MBX-USED-WEIGHT-1m``, the
weight used in the current clock minute; a request past ``rate_limit`` weight answers
429 with ``Retry-After``, and one arriving before that Retry-After has passed gets the
IP banned: 418 with ``Retry-After`` for ``ban_seconds``, as Binance does.

Symbols that exist are the ones it is started with (listed by exchangeInfo and the
all-symbols tickers) and any symbol matching ``symbol_pattern``; others answer 400
``{"code":-1121,"msg":"Invalid symbol."}``. Prices come from the synthetic paths.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cachefront.services.prices.simulators.calendar import days_of, following, opens_between
from cachefront.services.prices.simulators.paths import Bar, PricePath, aggregate, uniform
from cachefront.simulators.base import SimulatorBase, bound, control_routes
from cachefront.simulators.running import RunningServer

__all__ = [
    "DEFAULT_SYMBOLS",
    "LISTED",
    "BinanceConfig",
    "RunningBinance",
    "create_binance",
    "serve_binance",
]

DEFAULT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "ETHBTC"]
# Bars start on Binance's first trading day.
LISTED = datetime(2017, 8, 17, tzinfo=UTC)
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1m"
_QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_INTERVALS = {"1h": "hour", "1d": "day", "1w": "week", "1M": "month"}
_SYMBOLS_FORMAT = re.compile(r'^\[("[A-Z0-9\-_.]{1,20}"(,"[A-Z0-9\-_.]{1,20}")*)?\]$')


@dataclass
class BinanceConfig:
    """What the simulator does; all of it can change at run time through ``/_config``."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit: int = 6000
    ban_seconds: int = 120
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    symbol_pattern: str | None = r"[A-Z0-9]{2,10}USDT"
    halted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.rate_limit < 1 or self.ban_seconds < 1:
            raise ValueError("rate_limit and ban_seconds must be >= 1")
        if self.symbol_pattern is not None:
            re.compile(self.symbol_pattern)


class _Refused(Exception):
    """A Binance error answer: HTTP status and ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _invalid_symbol() -> _Refused:
    return _Refused(400, -1121, "Invalid symbol.")


@lru_cache(maxsize=4096)
def _path(symbol: str) -> PricePath:
    return PricePath(symbol)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fmt(value: float) -> str:
    return f"{value:.8f}"


def _split(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-3], symbol[-3:]


class _Binance(SimulatorBase):
    config: BinanceConfig

    def __init__(self, config: BinanceConfig, seed: int | None, clock: Callable[[], float]) -> None:
        super().__init__(config, seed)
        self._clock = clock
        self._window = -1  # the clock minute the weight counts in
        self._used = 0
        self._limited_until = 0.0  # a request before this after a 429 earns a ban
        self._banned_until = 0.0

    def reset_limits(self) -> None:
        self._window = -1
        self._used = 0
        self._limited_until = 0.0
        self._banned_until = 0.0

    def describe(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "used_weight": self._used if int(now // 60) == self._window else 0,
            "banned": now < self._banned_until,
        }

    def exists(self, symbol: str) -> bool:
        if symbol in self.config.symbols:
            return True
        pattern = self.config.symbol_pattern
        return pattern is not None and re.fullmatch(pattern, symbol) is not None

    # --- limits ------------------------------------------------------------------

    def _admit(self, weight: int) -> Response | None:
        """None when the request may go on; else the 429 or 418 to answer."""
        now = self._clock()
        if now < self._banned_until:
            return self._limited(418, "banned until the ban ends", self._banned_until - now)
        if now < self._limited_until:
            self._banned_until = now + self.config.ban_seconds
            self.count("bans")
            return self._limited(418, "IP banned for continuing after 429", self.config.ban_seconds)
        minute = int(now // 60)
        if minute != self._window:
            self._window, self._used = minute, 0
        if self._used + weight > self.config.rate_limit:
            retry = (minute + 1) * 60 - now
            self._limited_until = now + retry
            return self._limited(429, "Too much request weight used", retry)
        self._used += weight
        self.count("weight", weight)
        return None

    def _limited(self, status: int, message: str, seconds: float) -> Response:
        body = {
            "code": -1003,
            "msg": f"{message}; current limit is {self.config.rate_limit} "
            "request weight per 1 MINUTE.",
        }
        headers = {"Retry-After": str(max(1, math.ceil(seconds)))}
        return self._json(body, status, headers)

    def _json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        used = self._used if int(self._clock() // 60) == self._window else 0
        all_headers = {WEIGHT_HEADER: str(used), **(headers or {})}
        return JSONResponse(body, status_code=status, headers=all_headers)

    async def _serve(
        self,
        request: Request,
        weigh: Callable[[dict[str, str]], int],
        answer: Callable[[dict[str, str]], Any],
    ) -> Response:
        period = self.arrived(request.url.path)
        response = await self._respond(dict(request.query_params), weigh, answer)
        self.answered(period, response.status_code)
        return response

    async def _respond(
        self,
        params: dict[str, str],
        weigh: Callable[[dict[str, str]], int],
        answer: Callable[[dict[str, str]], Any],
    ) -> Response:
        if await self.delay():
            return self._json({"code": -1001, "msg": "Internal error; shutting down."}, 503)
        try:
            weight = weigh(params)
        except _Refused:
            weight = 2  # an unreadable request is charged the base weight
        refusal = self._admit(weight)
        if refusal is not None:
            return refusal
        if self.injected_error():
            return self._json({"code": -1001, "msg": "Internal error; unable to process."}, 503)
        try:
            return self._json(answer(params))
        except _Refused as refused:
            return self._json({"code": refused.code, "msg": refused.msg}, refused.status)

    # --- symbols -------------------------------------------------------------------

    def _chosen(self, params: dict[str, str]) -> list[str] | None:
        """The ``symbol`` or ``symbols`` asked for; None for all."""
        symbol, symbols = params.get("symbol"), params.get("symbols")
        if symbol is not None and symbols is not None:
            raise _Refused(400, -1128, "Combination of optional parameters invalid.")
        if symbol is not None:
            return [symbol]
        if symbols is None:
            return None
        if not _SYMBOLS_FORMAT.match(symbols):
            raise _Refused(
                400,
                -1100,
                "Illegal characters found in parameter 'symbols'; legal range is "
                '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.',
            )
        chosen: list[str] = json.loads(symbols)
        if not chosen:
            raise _Refused(
                400,
                -1102,
                "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.",
            )
        return chosen

    def _known(self, chosen: list[str] | None) -> list[str]:
        if chosen is None:
            return [symbol for symbol in self.config.symbols if symbol not in self.config.halted]
        for symbol in chosen:
            if not self.exists(symbol):
                raise _invalid_symbol()
        return chosen

    # --- endpoints -----------------------------------------------------------------

    def _weigh_price(self, params: dict[str, str]) -> int:
        return 2 if "symbol" in params else 4

    def _price(self, params: dict[str, str]) -> Any:
        chosen = self._chosen(params)
        now = datetime.fromtimestamp(self._clock(), UTC)
        items = [
            {"symbol": symbol, "price": _fmt(_path(symbol).spot(now))}
            for symbol in self._known(chosen)
        ]
        return items[0] if "symbol" in params else items

    def _weigh_24hr(self, params: dict[str, str]) -> int:
        if "symbol" in params:
            return 2
        chosen = self._chosen(params)
        if chosen is None or len(chosen) > 100:
            return 80
        return 40 if len(chosen) > 20 else 2

    def _ticker(self, symbol: str, now: datetime, mini: bool) -> dict[str, Any]:
        path = _path(symbol)
        opened = now - timedelta(hours=24)
        first, last = path.spot(opened), path.spot(now)
        # The day's range around the two ends; hashed so it stays put within the hour.
        hour = int(now.timestamp()) // 3600
        high = max(first, last) * (1.0 + path.volatility * uniform(path.seed, 11, hour))
        low = min(first, last) * (1.0 - path.volatility * uniform(path.seed, 12, hour))
        volume = path.daily(now.date()).volume
        seed = path.seed % 10_000_000
        ticker: dict[str, Any] = {
            "symbol": symbol,
            "openPrice": _fmt(first),
            "highPrice": _fmt(high),
            "lowPrice": _fmt(low),
            "lastPrice": _fmt(last),
            "volume": _fmt(volume),
            "quoteVolume": _fmt(volume * (first + last) / 2),
            "openTime": _ms(opened),
            "closeTime": _ms(now),
            "firstId": seed,
            "lastId": seed + int(volume) % 100_000,
            "count": int(volume) % 100_000 + 1,
        }
        if mini:
            return ticker
        full = {
            "symbol": symbol,
            "priceChange": _fmt(last - first),
            "priceChangePercent": f"{(last / first - 1) * 100:.3f}",
            "weightedAvgPrice": _fmt((first + last) / 2),
            "prevClosePrice": _fmt(first),
            "lastPrice": _fmt(last),
            "lastQty": _fmt(volume / 1000),
            "bidPrice": _fmt(last * 0.9999),
            "bidQty": _fmt(1.0),
            "askPrice": _fmt(last * 1.0001),
            "askQty": _fmt(1.0),
        }
        return {**full, **{key: value for key, value in ticker.items() if key not in full}}

    def _24hr(self, params: dict[str, str]) -> Any:
        kind = params.get("type", "FULL")
        if kind not in {"FULL", "MINI"}:
            raise _Refused(400, -1139, "Invalid ticker type.")
        chosen = self._chosen(params)
        now = datetime.fromtimestamp(self._clock(), UTC)
        items = [self._ticker(symbol, now, kind == "MINI") for symbol in self._known(chosen)]
        return items[0] if "symbol" in params else items

    def _weigh_fixed(self, weight: int) -> Callable[[dict[str, str]], int]:
        return lambda params: weight

    def _klines(self, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if not symbol:
            raise _Refused(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        interval = params.get("interval")
        if not interval:
            raise _Refused(
                400,
                -1102,
                "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
            )
        if interval not in _INTERVALS:
            raise _Refused(400, -1120, "Invalid interval.")
        if not self.exists(symbol):
            raise _invalid_symbol()
        limit = self._integer(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise _Refused(400, -1130, "Invalid data sent for a parameter.")
        now = datetime.fromtimestamp(self._clock(), UTC)
        start_ms = params.get("startTime")
        end_ms = params.get("endTime")
        last = now
        if end_ms is not None:
            last = min(now, datetime.fromtimestamp(self._integer(params, "endTime", 0) / 1000, UTC))
        first = LISTED
        if start_ms is not None:
            first = max(
                LISTED, datetime.fromtimestamp(self._integer(params, "startTime", 0) / 1000, UTC)
            )
        step = _INTERVALS[interval]
        if start_ms is None:
            # Without a start Binance answers the latest bars up to the end.
            first = max(LISTED, last - _span(step, limit))
            opens = list(opens_between(first, last, step))[-limit:]
        else:
            opens = []
            for opened in opens_between(first, last, step):
                opens.append(opened)
                if len(opens) == limit:
                    break
        return [_kline_row(symbol, opened, step) for opened in opens]

    @staticmethod
    def _integer(params: dict[str, str], name: str, default: int) -> int:
        value = params.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise _Refused(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; "
                "legal range is '^[0-9]{1,20}$'.",
            ) from None

    def _exchange_info(self, params: dict[str, str]) -> Any:
        now = datetime.fromtimestamp(self._clock(), UTC)
        symbols = []
        for symbol in self.config.symbols:
            base, quote = _split(symbol)
            symbols.append(
                {
                    "symbol": symbol,
                    "status": "BREAK" if symbol in self.config.halted else "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "permissions": [],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": _ms(now),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.config.rate_limit,
                }
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def routes(self) -> list[Route]:
        def endpoint(
            weigh: Callable[[dict[str, str]], int], answer: Callable[[dict[str, str]], Any]
        ) -> Callable[[Request], Any]:
            async def handle(request: Request) -> Response:
                return await self._serve(request, weigh, answer)

            return handle

        return [
            Route("/api/v3/ticker/price", endpoint(self._weigh_price, self._price)),
            Route("/api/v3/ticker/24hr", endpoint(self._weigh_24hr, self._24hr)),
            Route("/api/v3/klines", endpoint(self._weigh_fixed(2), self._klines)),
            Route("/api/v3/exchangeInfo", endpoint(self._weigh_fixed(20), self._exchange_info)),
        ]


def _span(step: str, count: int) -> timedelta:
    days = {"hour": 1 / 24, "day": 1, "week": 7, "month": 31}[step]
    return timedelta(days=days * count)


def _kline_row(symbol: str, opened: datetime, step: str) -> list[Any]:
    path = _path(symbol)
    bar: Bar
    if step == "hour":
        bar = path.hourly(opened)
    elif step == "day":
        bar = path.daily(opened.date())
    else:
        bar = aggregate(opened, [path.daily(day) for day in days_of(opened, step)])
    quote_volume = bar.volume * (bar.open + bar.close) / 2
    trades = int(bar.volume) % 1_000_000 + 1
    return [
        _ms(opened),
        _fmt(bar.open),
        _fmt(bar.high),
        _fmt(bar.low),
        _fmt(bar.close),
        _fmt(bar.volume),
        _ms(following(opened, step)) - 1,
        _fmt(quote_volume),
        trades,
        _fmt(bar.volume / 2),
        _fmt(quote_volume / 2),
        "0",
    ]


def create_binance(
    seed: int | None = None, clock: Callable[[], float] = time.time, **config: Any
) -> Starlette:
    """The simulator as an ASGI app; ``config`` are ``BinanceConfig`` fields."""
    simulator = _Binance(BinanceConfig(**config), seed, clock)

    app = Starlette(
        routes=[*simulator.routes(), *control_routes(simulator)], lifespan=bound(simulator)
    )
    app.state.simulator = simulator
    return app


def serve_binance(host: str = "127.0.0.1", port: int = 8902, **config: Any) -> None:
    """Run the simulator under uvicorn until interrupted (``cachefront simulate binance``)."""
    uvicorn.run(create_binance(**config), host=host, port=port, log_level="info")


class RunningBinance(RunningServer):
    """The Binance simulator on a free port, in a background thread (a context manager)."""

    def __init__(self, seed: int | None = None, **config: Any) -> None:
        super().__init__(create_binance(seed, **config), "binance-simulator")
