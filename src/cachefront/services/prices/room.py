"""The prices room as the platform sees it: what it brings, and how it opens and closes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from fastapi import APIRouter
from sqlalchemy import Table

from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.http.fastpath import FastRoute
from cachefront.jobs.registry import JobRegistry
from cachefront.rooms import Platform, RoomCli, RouteGroupRule, UpstreamSpec
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.cli import commands
from cachefront.services.prices.fastpath import PricesFastRoute
from cachefront.services.prices.figures import prices_figures
from cachefront.services.prices.history import HistoryStore
from cachefront.services.prices.markets import DEFAULT_EXCHANGE, MarketHours
from cachefront.services.prices.providers import BinanceProvider, PriceProvider, YahooProvider
from cachefront.services.prices.routes import router
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.service_stores import TableCandles, TableDirectory
from cachefront.services.prices.settings import PricesSettings
from cachefront.services.prices.simulators.commands import simulators
from cachefront.services.prices.tables import price_assets, price_daily, price_monthly, price_weekly
from cachefront.services.prices.tasks import register_prices_jobs
from cachefront.upstream import UpstreamClient

__all__ = ["BINANCE", "BINANCE_USED_WEIGHT", "ROOM", "YAHOO", "PricesRoom", "build_providers"]

BINANCE = "binance"
YAHOO = "yahoo"
# Binance reports the weight this IP used in the current minute on every answer; the
# budget reads it to correct its own count (another process, another tool on the IP).
BINANCE_USED_WEIGHT = "X-MBX-USED-WEIGHT-1m"
# 429: slow down for Retry-After; 418: banned until Retry-After; every call waits.
BINANCE_HOLDS = frozenset({418, 429})
YAHOO_HOLDS = frozenset({429})


def build_providers(
    settings: PricesSettings, upstreams: Mapping[str, UpstreamClient]
) -> dict[str, PriceProvider]:
    """The configured providers over the platform's clients, by name."""
    providers: dict[str, PriceProvider] = {}
    for name in settings.prices_providers:
        if name == BINANCE:
            providers[name] = BinanceProvider(upstreams[BINANCE], settings.binance_url)
        elif name == YAHOO:
            providers[name] = YahooProvider(
                upstreams[YAHOO],
                settings.yahoo_url,
                settings.yahoo_cookie_url,
                settings.yahoo_batch_size,
            )
        else:
            raise ConfigurationError(
                f"CACHEFRONT_PRICES_PROVIDERS: unknown provider {name!r} "
                f"(known: {BINANCE}, {YAHOO})"
            )
    return providers


class PricesRoom:
    """Latest prices, batches and long history of assets from Binance and Yahoo Finance."""

    name = "prices"
    settings_model = PricesSettings
    router: APIRouter = router
    # Reads may reach a provider on a miss: they count where upstream-bound reads do.
    route_groups: Sequence[RouteGroupRule] = (RouteGroupRule("/v1/prices", "upstream"),)
    group_limits: Mapping[str, str] = {}
    tables: Sequence[Table] = (price_assets, price_daily, price_weekly, price_monthly)
    cli = RoomCli(commands=commands, simulators=simulators)
    # Its panel: the catalogue, how fresh the latest prices are, the history's span.
    figures = staticmethod(prices_figures)

    def upstreams(self, settings: Settings) -> Sequence[UpstreamSpec]:
        own = settings.room(PricesSettings)
        specs: list[UpstreamSpec] = []
        if BINANCE in own.prices_providers:
            specs.append(
                UpstreamSpec(
                    BINANCE,
                    own.binance_budget,
                    own.binance_background_share,
                    used_header=BINANCE_USED_WEIGHT,
                    published_limit=own.binance_published_weight,
                    hold_statuses=BINANCE_HOLDS,
                )
            )
        if YAHOO in own.prices_providers:
            specs.append(
                UpstreamSpec(
                    YAHOO,
                    own.yahoo_budget,
                    own.yahoo_background_share,
                    hold_statuses=YAHOO_HOLDS,
                )
            )
        return specs

    def fast_routes(self, settings: Settings) -> Sequence[FastRoute]:
        return (PricesFastRoute(),)

    def register_jobs(self, registry: JobRegistry, settings: Settings) -> None:
        register_prices_jobs(registry, settings)

    async def open(self, platform: Platform) -> PricesService:
        own = platform.settings.room(PricesSettings)
        directory = TableDirectory(AssetStore(platform.engine))
        history = HistoryStore(
            platform.engine,
            keep_daily_days=own.prices_keep_daily_days,
            keep_weekly_days=own.prices_keep_weekly_days,
            keep_all_daily=own.prices_keep_all_daily,
            # Range reads may go to a replica; writes and what they depend on never do.
            reads=platform.read_engine,
        )
        markets = MarketHours()
        # New York's calendar now, off the event loop; other exchanges when first seen.
        await markets.load_exchanges([DEFAULT_EXCHANGE], now=time.time())
        return PricesService(
            platform.cache,
            directory,
            TableCandles(history, directory),
            build_providers(own, platform.upstreams),
            markets=markets,
            refresh_seconds=own.prices_refresh_seconds,
            stale_days=own.prices_stale_days,
            batch_max_symbols=own.prices_batch_max_symbols,
        )

    async def aclose(self, service: PricesService) -> None:
        # The providers' clients, the cache and the engine belong to the platform.
        return None


ROOM = PricesRoom()
