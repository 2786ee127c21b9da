"""The ephemeris room as the platform sees it: what it brings, and how it opens and closes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import Table

from cachefront.cache import CachePolicy
from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.http.fastpath import FastRoute
from cachefront.jobs.registry import JobRegistry
from cachefront.rooms import Platform, RoomCli, RouteGroupRule, UpstreamSpec
from cachefront.services.ephemeris.cli import commands, simulators
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute
from cachefront.services.ephemeris.figures import ephemeris_figures
from cachefront.services.ephemeris.providers import (
    EphemerisProvider,
    HorizonsProvider,
    LocalProvider,
)
from cachefront.services.ephemeris.routes import router
from cachefront.services.ephemeris.service import EphemerisService
from cachefront.services.ephemeris.settings import EphemerisSettings
from cachefront.services.ephemeris.tasks import register_ephemeris_jobs
from cachefront.upstream import UpstreamClient

__all__ = ["ROOM", "EphemerisRoom", "fallback_policy", "policy"]

HORIZONS = "horizons"
LOCAL = "local"


def policy(settings: EphemerisSettings) -> CachePolicy:
    # Positions of the past and near future do not change, so they stay fresh for
    # weeks; the long stale window lets an outage be ridden out on old answers.
    return CachePolicy(
        fresh_for=timedelta(days=settings.ephemeris_fresh_days),
        stale_for=timedelta(days=settings.ephemeris_stale_days),
        negative_for=timedelta(minutes=1),
    )


def fallback_policy(settings: EphemerisSettings) -> CachePolicy:
    # Answers from a fallback provider: as long a stale window, a short fresh one.
    return CachePolicy(
        fresh_for=timedelta(seconds=settings.ephemeris_fallback_fresh_seconds),
        stale_for=timedelta(days=settings.ephemeris_stale_days),
        negative_for=timedelta(minutes=1),
    )


def _providers(
    settings: EphemerisSettings, upstreams: Mapping[str, UpstreamClient]
) -> list[EphemerisProvider]:
    providers: list[EphemerisProvider] = []
    for name in settings.ephemeris_providers:
        if name == HORIZONS:
            providers.append(HorizonsProvider(upstreams[HORIZONS], settings.horizons_url))
        elif name == LOCAL:
            providers.append(
                LocalProvider(
                    threads=settings.ephemeris_local_threads,
                    queue=settings.ephemeris_local_queue,
                )
            )
        else:
            raise ConfigurationError(
                f"CACHEFRONT_EPHEMERIS_PROVIDERS: unknown provider {name!r} "
                f"(known: {HORIZONS}, {LOCAL})"
            )
    return providers


class EphemerisRoom:
    """Positions of the Sun, Moon and planets from Horizons, with a local fallback."""

    name = "ephemeris"
    settings_model = EphemerisSettings
    router: APIRouter = router
    route_groups: Sequence[RouteGroupRule] = (RouteGroupRule("/v1/ephemeris", "upstream"),)
    group_limits: Mapping[str, str] = {}
    # Positions live in the platform's cache tables; the room has none of its own.
    tables: Sequence[Table] = ()
    cli = RoomCli(commands=commands, simulators=simulators)
    # Its panel: how far ahead of now the cached positions reach, per body.
    figures = staticmethod(ephemeris_figures)

    def upstreams(self, settings: Settings) -> Sequence[UpstreamSpec]:
        own = settings.room(EphemerisSettings)
        if HORIZONS not in own.ephemeris_providers:
            return ()
        return (UpstreamSpec(HORIZONS, own.horizons_budget, own.horizons_background_share),)

    def fast_routes(self, settings: Settings) -> Sequence[FastRoute]:
        own = settings.room(EphemerisSettings)
        return (EphemerisFastRoute(grid_seconds=own.ephemeris_grid_minutes * 60),)

    def register_jobs(self, registry: JobRegistry, settings: Settings) -> None:
        register_ephemeris_jobs(registry, settings)

    async def open(self, platform: Platform) -> EphemerisService:
        own = platform.settings.room(EphemerisSettings)
        return EphemerisService(
            platform.cache,
            _providers(own, platform.upstreams),
            grid_step=timedelta(minutes=own.ephemeris_grid_minutes),
            batch_steps=own.ephemeris_batch_steps,
            max_rows=own.ephemeris_max_rows,
            policy=policy(own),
            fallback_policy=fallback_policy(own),
        )

    async def aclose(self, service: EphemerisService) -> None:
        # The local provider computes in threads of its own; the Horizons provider's
        # client belongs to the platform, which closes it.
        for provider in service.providers:
            if isinstance(provider, LocalProvider):
                provider.close()


ROOM = EphemerisRoom()
