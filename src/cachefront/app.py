"""The application factory: wires settings, storage, cache, upstreams and services together.

``create_app(settings)`` returns the ASGI application, in layers from the outside in:
tracing (only with an OTLP endpoint), the access log (only in json log mode), the
gate (request id, identity, inbound limits, body size, CORS), the fast path (fresh
memory hits answered without entering the framework), request metrics, and
FastAPI with the rooms' routers. Pools, clients, stores, every room's service and the
job worker open in the lifespan and close with it. The services come from the one
list in ``cachefront.services`` (the contract is ``cachefront.rooms``); nothing here
knows any of them.

The objects the settings configure are built by ``cachefront.composition``; this
module decides what goes where and when it opens and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from cachefront import composition
from cachefront.auth import KeyManager, install_isolation
from cachefront.cache import TieredCache
from cachefront.config import Settings
from cachefront.db.embedded import start_embedded_postgres
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.db.replica import ReadEngine
from cachefront.db.topology import database_urls
from cachefront.errors import ConfigurationError
from cachefront.http.access import AccessLog, AccessLogApp, RouteNames
from cachefront.http.admin_cache import admin_cache_router
from cachefront.http.client_address import ClientAddress
from cachefront.http.cors import CorsPolicy, cors_request_headers_of
from cachefront.http.direct import DirectResponder, attach_responder
from cachefront.http.error_formats import ErrorFormatApp, error_formats_of
from cachefront.http.fastpath import FastPathApp
from cachefront.http.gate import GateApp
from cachefront.http.middleware import RequestMetricsMiddleware
from cachefront.http.openapi import document_access
from cachefront.http.problems import install_problem_handlers
from cachefront.http.raw_routes import RawRoutesApp, raw_routes_of
from cachefront.jobs.registry import JobResources
from cachefront.jobs.routes import router as jobs_router
from cachefront.jobs.runtime import JobsRuntime, open_jobs
from cachefront.metrics.attribution import Attribution
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.metrics.routes import admin_router, health_router
from cachefront.observability.dashboard import router as dashboard_router
from cachefront.observability.monitor import HealthMonitor
from cachefront.observability.prometheus import PrometheusSink
from cachefront.observability.rooms_figures import FigureReaders
from cachefront.observability.rooms_routes import rooms_router
from cachefront.observability.routes import metrics_router, render_metrics
from cachefront.observability.routes import router as observability_router
from cachefront.observability.scrape_bind import MetricsListener
from cachefront.redis_link import RedisLink
from cachefront.rooms import AnyRoom, Platform, RoomServices
from cachefront.services import ROOMS
from cachefront.upstream import UpstreamClient

__all__ = ["Resources", "create_app", "resolve_database_url", "running_jobs", "running_services"]

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """Everything the lifespan opened, closed in reverse order at shutdown."""

    engine: AsyncEngine
    cache: TieredCache
    recorder: MetricsRecorder
    read_engine: ReadEngine
    upstreams: dict[str, UpstreamClient] = field(default_factory=dict)


def resolve_database_url(settings: Settings) -> str:
    """The configured database URL, or the embedded PostgreSQL's (started if need be)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded_postgres(settings.data_dir)


def create_app(
    settings: Settings | None = None,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    gate: bool = True,
) -> ASGIApp:
    """Build the cachefront ASGI application from ``settings`` (default: the environment).

    ``gate=False`` leaves out authentication, inbound limits and CORS; it exists only
    so a benchmark can measure what they cost, and every caller is then unidentified.
    """
    settings = settings or Settings()
    # One Redis link for the process, shared by the cache, the limiter and the budgets;
    # it connects on first use and is closed when the lifespan ends.
    redis_link = composition.redis_link_from(settings)
    # --- auth and inbound limits (cachefront.auth, cachefront.ratelimit) -----------------
    authenticator = composition.authenticator_from(settings)
    limiter = composition.inbound_limiter_from(settings, redis_link)
    memory = composition.memory_from(settings)
    recorder = composition.recorder_from(settings)
    # Prometheus counts what the recorder takes, batch by batch, off the hot path.
    prometheus = PrometheusSink()
    if settings.prometheus_enabled:
        recorder.sink = prometheus
    tracer = composition.tracer_from(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        urls = database_urls(settings, resolve_database_url(settings))
        if settings.migrate_on_start:
            # DDL and Alembic's version lock want a session: the direct connection.
            upgrade(urls.direct)
        engine = _engine(settings, urls.primary, pooled=urls.transaction_pooler)
        read_engine = ReadEngine(
            engine,
            None if urls.replica is None else _engine(settings, urls.replica, pooled=False),
            max_lag_seconds=settings.database_replica_max_lag_seconds,
            check_seconds=settings.database_replica_check_seconds,
        )
        authenticator.keys = KeyManager(engine)
        await limiter.open()
        cache = composition.cache_from(
            settings,
            engine,
            memory=memory,
            redis_link=redis_link,
            listen_url=urls.direct if urls.transaction_pooler else None,
        )
        await cache.open()
        recorder.attach(engine)
        await recorder.start()
        await read_engine.open()
        resources = Resources(
            engine=engine, cache=cache, recorder=recorder, read_engine=read_engine
        )
        # Rooms opened so far, each with its service, closed in reverse order.
        opened: list[tuple[AnyRoom, Any]] = []
        try:
            await _open_upstreams(settings, resources, upstream_transport, redis_link)
            if settings.prometheus_enabled:
                # Each process writes its own breaker and memory gauges as they change,
                # so a scrape answered by another process reads them current.
                prometheus.watch(
                    {name: client.breaker for name, client in resources.upstreams.items()},
                    lambda: memory.size_bytes,
                )
            platform = Platform(settings, engine, cache, resources.upstreams, read_engine)
            services = RoomServices()
            for room in ROOMS:
                service = await room.open(platform)
                opened.append((room, service))
                services.add(service)
            app.state.services = services
            app.state.resources = resources
            log.info(
                "cachefront ready (pid %d, redis %s)",
                os.getpid(),
                "on" if settings.redis_url else "off",
                extra={"action": "app.ready"},
            )
            # --- background jobs (cachefront.jobs): queue, periodic tasks, worker -------
            job_resources = JobResources(settings, engine, services)
            async with open_jobs(
                settings, urls.primary, job_resources, direct_url=urls.direct
            ) as jobs:
                app.state.jobs = jobs
                app.state.job_resources = job_resources
                monitor = _health_monitor(settings, resources, jobs)
                app.state.local_state = monitor.local
                monitor.start()
                scrapers = _metrics_listener(settings, app)
                try:
                    if scrapers is not None:
                        await scrapers.start()
                    yield
                finally:
                    if scrapers is not None:
                        await scrapers.aclose()
                    await monitor.aclose()
                    prometheus.process_exited()
        finally:
            for room, service in reversed(opened):
                await room.aclose(service)
            for client in resources.upstreams.values():
                await client.aclose()
            await recorder.aclose()
            await cache.aclose()
            await limiter.aclose()
            if redis_link is not None:
                await redis_link.aclose()
            await read_engine.aclose()
            await engine.dispose()
            if tracer is not None:
                # Sends the spans still batched; blocking, so off the event loop.
                await asyncio.to_thread(tracer.shutdown)

    # FastAPIOffline is FastAPI with /docs and /redoc served from assets shipped in the
    # package (under /static-offline-docs), not from a CDN: the docs work offline.
    api = FastAPIOffline(
        title="cachefront",
        version="0.1.0",
        summary="Cache-first API in front of slow, rate-limited, costly upstreams.",
        lifespan=lifespan,
        # Starlette builds a slash redirect's Location from the Host header, which the
        # client chooses; no redirect at all: a path with a stray slash is 404.
        redirect_slashes=False,
        # FastAPI's own OpenTelemetry layer stays off: cachefront traces requests itself
        # (TracingApp, with the cache tiers and upstream calls), and with it on, every
        # request looked up the global providers and the environment (~2% of a routed
        # request's CPU), and a global provider would have got each request twice.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api.state.settings = settings
    api.state.prometheus = prometheus
    api.state.memory = memory
    # Which room each route and provider belongs to, for the stats' per-room figures.
    api.state.attribution = Attribution.of(ROOMS, settings)
    # The rooms' own figures (the contract's optional ``figures``), for their panels.
    api.state.room_figures = FigureReaders.of(ROOMS)
    install_problem_handlers(api)
    api.include_router(health_router)
    for room in ROOMS:
        api.include_router(room.router)
    api.include_router(admin_router)
    api.include_router(admin_cache_router)
    api.include_router(observability_router)
    api.include_router(rooms_router)
    api.include_router(metrics_router)
    api.include_router(dashboard_router)
    api.include_router(jobs_router)

    # A room's busiest routes may skip the framework's routing (http/raw_routes.py).
    raw_routes = raw_routes_of(ROOMS)
    routed: ASGIApp = RawRoutesApp(api, raw_routes) if raw_routes else api
    inner: ASGIApp = RequestMetricsMiddleware(routed, recorder)
    fast = FastPathApp(
        inner,
        memory=memory,
        recorder=recorder,
        routes=[route for room in ROOMS for route in room.fast_routes(settings)],
    )
    # --- auth and inbound limits: the gate in front of everything, the hot path included --
    # Rooms whose clients read errors in a shape of their own get it on their paths,
    # the gate's refusals included: the reshaping layer sits outside the gate.
    formats = error_formats_of(ROOMS)
    document_access(api, limiter.limits, settings.anon_route_groups, formats)
    if not gate:
        return ErrorFormatApp(fast, formats) if formats else fast
    cors = None
    if settings.cors_origins:
        # Browsers may send the platform's request headers and those the rooms declare.
        cors = CorsPolicy(settings.cors_origins, request_headers=cors_request_headers_of(ROOMS))
    # Who may say what a request came as (X-Forwarded-For, X-Forwarded-Proto): the gate
    # counts clients by it, the dashboard decides whether its cookie is Secure.
    client_address = ClientAddress(settings.trusted_proxies)
    api.state.client_address = client_address
    gated = GateApp(
        fast,
        authenticator=authenticator,
        limiter=limiter,
        anon_groups=settings.anon_route_groups,
        max_body_bytes=settings.max_body_bytes,
        # The gate applies CORS to every response (refusals, hot path, routes).
        cors=cors,
        client_address=client_address,
    )
    outer: ASGIApp = ErrorFormatApp(gated, formats) if formats else gated
    # Both layers below exist only when asked for: text logs and no tracing cost nothing.
    names = RouteNames(api.routes, fast.routes)
    access = AccessLog() if settings.log_format == "json" else None
    if access is not None:
        outer = AccessLogApp(outer, access, names)
    if tracer is not None:
        from cachefront.observability.otel import TracingApp

        outer = TracingApp(outer, tracer, names)
    if settings.direct_hits:
        # The server answers the fast path's hits itself, before ASGI (http/direct.py).
        responder = DirectResponder(
            gate=gated, memory=memory, recorder=recorder, routes=fast.routes, access_log=access
        )
        attach_responder(outer, responder)
    return outer


async def _open_upstreams(
    settings: Settings,
    resources: Resources,
    transport: httpx.AsyncBaseTransport | None,
    redis_link: RedisLink | None,
) -> None:
    """One client per upstream the rooms call, kept in ``resources`` to be closed with it."""
    for room in ROOMS:
        for spec in room.upstreams(settings):
            if spec.name in resources.upstreams:
                raise ConfigurationError(f"two rooms call an upstream named {spec.name!r}")
            client = composition.upstream_client_from(
                settings,
                spec.name,
                budget_limit=spec.budget,
                background_share=spec.background_share,
                used_header=spec.used_header,
                published_limit=spec.published_limit,
                hold_statuses=spec.hold_statuses,
                recorder=resources.recorder.record_upstream,
                transport=transport,
                redis_link=redis_link,
            )
            await client.open()
            resources.upstreams[spec.name] = client


def _metrics_listener(settings: Settings, app: FastAPI) -> MetricsListener | None:
    """The scrapers' own /metrics address, when one is set and Prometheus is on."""
    if settings.metrics_bind is None or not settings.prometheus_enabled:
        return None
    return MetricsListener(settings.metrics_bind, lambda: render_metrics(app.state))


def _health_monitor(settings: Settings, resources: Resources, jobs: Any) -> HealthMonitor:
    """The background health checks, reading this process's breakers and worker."""

    def worker_running() -> bool | None:
        supervisor = getattr(jobs, "supervisor", None)
        return None if supervisor is None else bool(supervisor.health.running)

    return HealthMonitor(resources.engine, settings, resources.upstreams, worker_running)


def _engine(settings: Settings, url: str, *, pooled: bool) -> AsyncEngine:
    """An engine with the app role and per-transaction identity installed."""
    engine = create_engine(url, pool_size=settings.database_pool_size, transaction_pooler=pooled)
    install_isolation(
        engine, settings.db_app_role, jwt_issuer=settings.jwt_issuer, per_transaction_role=pooled
    )
    return engine


def _fastapi_of(app: ASGIApp) -> FastAPI:
    # create_app wraps FastAPI in plain ASGI layers; each keeps what it wraps as `.app`.
    current: Any = app
    while not isinstance(current, FastAPI):
        current = current.app
    return current


@contextlib.asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[RoomServices]:
    """The app's lifespan (pools, cache, upstreams, rooms, jobs) without an HTTP listener.

    For commands: ``cachefront worker``, and a room's own (``services.get(ItsService)``).
    """
    api = _fastapi_of(create_app(settings))
    async with api.router.lifespan_context(api):
        services: RoomServices = api.state.services
        yield services


@contextlib.asynccontextmanager
async def running_jobs(settings: Settings) -> AsyncIterator[tuple[JobsRuntime, JobResources]]:
    """``running_services``, with the jobs runtime and what its tasks run with.

    For commands that submit a job and may run it in their own process
    (``JobsRuntime.submit(..., queue=)`` and ``JobsRuntime.work_off``).
    """
    api = _fastapi_of(create_app(settings))
    async with api.router.lifespan_context(api):
        jobs: JobsRuntime = api.state.jobs
        resources: JobResources = api.state.job_resources
        yield jobs, resources
