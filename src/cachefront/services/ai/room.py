"""The AI room as the platform sees it: what it brings, and how it opens and closes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from fastapi import APIRouter
from redis.asyncio import Redis
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.http.error_formats import ErrorFormat
from cachefront.http.fastpath import FastRoute
from cachefront.http.raw_routes import RawRoute
from cachefront.jobs.registry import JobRegistry
from cachefront.rooms import MeasuredCost, Platform, RoomCli, RouteGroupRule, UpstreamSpec
from cachefront.services.ai.cli import simulators
from cachefront.services.ai.costs import measured_costs
from cachefront.services.ai.figures import figures_reader
from cachefront.services.ai.generation import generation_job_type
from cachefront.services.ai.generation_routes import generation_router
from cachefront.services.ai.openai_errors import ERROR_SCHEMA, problem_as_openai
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.providers import Catalog, OpenAICompatibleProvider, provider_configs
from cachefront.services.ai.quota import QuotaGate, QuotaLimits, used_on_day
from cachefront.services.ai.quota_redis import RedisCounters
from cachefront.services.ai.reflection_routes import reflection_router
from cachefront.services.ai.retention import retention_task
from cachefront.services.ai.routes import chat_completions_endpoint
from cachefront.services.ai.routes import router as openai_router
from cachefront.services.ai.service import CACHE_NS, AiService
from cachefront.services.ai.settings import AiSettings
from cachefront.services.ai.shared_flight import BLOCK_MS, SharedFlights
from cachefront.services.ai.tables import ai_generation_steps, ai_quotas, ai_usage
from cachefront.services.ai.usage_routes import usage_router

__all__ = ["ROOM", "AiRoom", "upstream_name"]

# Background work (none yet) may use little of a provider's budget: it costs money.
_BACKGROUND_SHARE = 0.1
# A flight's lock outlives the deadline a little, so a live leader never loses it.
_LOCK_MARGIN_SECONDS = 5.0
_PATHS = ("/v1/chat", "/v1/embeddings", "/v1/models")
# The room's own routes: problem+json errors, the same inbound limit.
_OWN_PATHS = ("/v1/ai",)

router = APIRouter()
router.include_router(openai_router)
router.include_router(usage_router)
router.include_router(reflection_router)
router.include_router(generation_router)


def upstream_name(provider: str) -> str:
    """The upstream client's name of a provider, in budgets, breakers and metrics."""
    return f"ai-{provider}"


async def ledger_costs(engine: AsyncEngine, since: datetime, until: datetime) -> list[MeasuredCost]:
    """The ledger's costs per provider, named as the stats name the upstream clients."""
    return [
        dataclasses.replace(cost, provider=upstream_name(cost.provider))
        for cost in await measured_costs(engine, since, until)
    ]


class AiRoom:
    """An OpenAI-compatible gateway: keys on the server, cached and coalesced answers."""

    name = "ai"
    settings_model = AiSettings
    router: APIRouter = router
    route_groups: Sequence[RouteGroupRule] = tuple(
        RouteGroupRule(path, "ai") for path in (*_PATHS, *_OWN_PATHS)
    )
    group_limits: Mapping[str, str] = {"ai": "600/minute"}
    # Answers live in the platform's cache tables; quotas, ledger and steps in these.
    tables: Sequence[Table] = (ai_quotas, ai_usage, ai_generation_steps)
    cli = RoomCli(simulators=simulators)
    # The official OpenAI clients read errors in OpenAI's shape on these paths.
    error_formats: Sequence[ErrorFormat] = tuple(
        ErrorFormat(path, problem_as_openai, schema=ERROR_SCHEMA) for path in _PATHS
    )
    # The gateway's busiest route, answered without the framework's routing.
    raw_routes: Sequence[RawRoute] = (
        RawRoute("POST", "/v1/chat/completions", chat_completions_endpoint),
    )
    # Providers bill per token: the stats read the ledger's costs, not a per-call price.
    cost_reader = staticmethod(ledger_costs)
    # Its panel: cache efficiency, tokens used and saved, per model and per caller.
    figures = staticmethod(figures_reader((*_PATHS, *_OWN_PATHS)))

    # What the official OpenAI JS client sends from a browser (dangerouslyAllowBrowser):
    # its x-stainless-* telemetry and retry headers, and the account it bills.
    cors_request_headers: Sequence[str] = (
        "OpenAI-Organization",
        "OpenAI-Project",
        "OpenAI-Beta",
        "x-stainless-*",
    )

    def upstreams(self, settings: Settings) -> Sequence[UpstreamSpec]:
        own = settings.room(AiSettings)
        return tuple(
            UpstreamSpec(
                upstream_name(config.name), config.budget or own.ai_budget, _BACKGROUND_SHARE
            )
            for config in provider_configs(own)
        )

    def fast_routes(self, settings: Settings) -> Sequence[FastRoute]:
        return ()

    def register_jobs(self, registry: JobRegistry, settings: Settings) -> None:
        registry.add_job_type(generation_job_type())
        registry.add_periodic(retention_task())

    async def open(self, platform: Platform) -> AiService:
        own = platform.settings.room(AiSettings)
        providers: list[OpenAICompatibleProvider] = []
        entries = []
        for config in provider_configs(own):
            provider = OpenAICompatibleProvider(
                config.name,
                config.base_url,
                config.api_key.get_secret_value() if config.api_key else None,
                platform.upstreams[upstream_name(config.name)],
            )
            providers.append(provider)
            entries.append((config.name, provider, config.models, config.aliases))
        shared = None
        counters = None
        if platform.settings.redis_url is not None:
            url = platform.settings.redis_url.get_secret_value().removeprefix("async+")
            timeout = platform.settings.redis_socket_timeout_seconds
            engine = platform.engine

            async def seed(owner: str, day: date) -> int:
                return await used_on_day(engine, owner, day)

            counters = RedisCounters(
                Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout),
                prefix=platform.settings.redis_prefix,
                ns=CACHE_NS,
                seed=seed,
            )
            shared = SharedFlights(
                Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout),
                # Followers block on the stream of chunks for up to BLOCK_MS at a time.
                Redis.from_url(
                    url,
                    socket_timeout=BLOCK_MS / 1000 + timeout,
                    socket_connect_timeout=timeout,
                ),
                prefix=platform.settings.redis_prefix,
                ns=CACHE_NS,
                lock_seconds=own.ai_deadline_seconds + _LOCK_MARGIN_SECONDS,
            )
        return AiService(
            platform.cache,
            providers,
            Catalog(entries),
            cache_seconds=own.ai_cache_seconds,
            deadline_seconds=own.ai_deadline_seconds,
            shared=shared,
            usage=QuotaGate(
                platform.engine,
                QuotaLimits(own.ai_daily_tokens, own.ai_requests_per_minute),
                PriceTable(own.ai_prices),
                shared=counters,
            ),
            answer_cap=own.ai_answer_cap,
        )

    async def aclose(self, service: AiService) -> None:
        await service.aclose()


ROOM = AiRoom()
