"""The composition root: turns the one Settings object into configured platform objects.

Only this module (with ``app.py``, which calls it) reads the platform settings to build
things. The core packages (``cache``, ``upstream``, ``ratelimit``, ``auth``) take plain
values, policies and limits in their constructors, so each can be built, tested and
reused without a settings object, and a setting's meaning is spelled in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import limits
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Authenticator, JwtVerifier
from cachefront.cache import MemoryStore, TieredCache, build_cache
from cachefront.cache.invalidation import Announcer
from cachefront.cache.invalidation_postgres import PostgresAnnouncer
from cachefront.cache.invalidation_redis import RedisAnnouncer
from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.ratelimit import InboundLimiter, parse_rate_limits
from cachefront.redis_link import RedisLink
from cachefront.upstream import (
    BreakerPolicy,
    Recorder,
    RetryPolicy,
    ServerSignals,
    UpstreamClient,
    build_upstream_client,
)

if TYPE_CHECKING:
    from cachefront.observability.otel import OtelTracer

__all__ = [
    "announcer_from",
    "authenticator_from",
    "breaker_policy_from",
    "cache_from",
    "inbound_limiter_from",
    "memory_from",
    "recorder_from",
    "redis_link_from",
    "retry_policy_from",
    "tracer_from",
    "upstream_client_from",
]


def redis_link_from(settings: Settings) -> RedisLink | None:
    """The process's one Redis link, or None without ``CACHEFRONT_REDIS_URL``.

    It connects on first use; whoever calls this closes it.
    """
    if settings.redis_url is None:
        return None
    return RedisLink(
        settings.redis_url.get_secret_value(),
        prefix=settings.redis_prefix,
        socket_timeout=settings.redis_socket_timeout_seconds,
    )


def memory_from(settings: Settings) -> MemoryStore:
    """The memory tier, bounded as configured; the fast path and the cache share it."""
    return MemoryStore(
        max_bytes=settings.memory_cache_bytes,
        max_entry_bytes=settings.memory_cache_max_entry_bytes,
    )


def cache_from(
    settings: Settings,
    engine: AsyncEngine | None,
    *,
    memory: MemoryStore,
    redis_link: RedisLink | None = None,
    listen_url: str | None = None,
) -> TieredCache:
    """The tiered cache over ``memory``, the Redis link and the engine, as configured."""
    return build_cache(
        engine,
        memory=memory,
        redis_link=redis_link,
        lock_seconds=settings.singleflight_lock_seconds,
        user_deadline=settings.user_deadline_seconds,
        quota_namespaces=frozenset(settings.cache_quotas),
        read_flush_seconds=settings.cache_read_flush_seconds,
        read_resolution_seconds=settings.cache_read_resolution_seconds,
        announcer=announcer_from(
            settings, engine, memory=memory, redis_link=redis_link, listen_url=listen_url
        ),
    )


def announcer_from(
    settings: Settings,
    engine: AsyncEngine | None,
    *,
    memory: MemoryStore,
    redis_link: RedisLink | None = None,
    listen_url: str | None = None,
) -> Announcer | None:
    """What keeps ``memory`` in step with the other processes: Redis pub/sub when there is
    a Redis, else PostgreSQL LISTEN/NOTIFY; None when ``CACHEFRONT_MEMORY_CACHE_SYNC``
    is off or there is neither."""
    if not settings.memory_cache_sync:
        return None
    if redis_link is not None:
        return RedisAnnouncer(redis_link, memory)
    if engine is not None:
        return PostgresAnnouncer(engine, memory, listen_url=listen_url)
    return None


def recorder_from(settings: Settings) -> MetricsRecorder:
    """The metrics recorder, attached to the engine once the lifespan has one."""
    return MetricsRecorder(
        None,
        flush_seconds=settings.metrics_flush_seconds,
        buffer_max=settings.metrics_buffer_max,
        enabled=settings.metrics_recording,
        jwt_issuer=settings.jwt_issuer,
    )


def retry_policy_from(settings: Settings) -> RetryPolicy:
    """How every upstream client retries (``CACHEFRONT_UPSTREAM_ATTEMPTS``, backoff)."""
    return RetryPolicy(
        attempts=settings.upstream_attempts,
        backoff=settings.upstream_backoff_seconds,
        backoff_max=settings.upstream_backoff_max_seconds,
    )


def breaker_policy_from(settings: Settings) -> BreakerPolicy:
    """When every upstream client's breaker opens and how long it stays open."""
    return BreakerPolicy(
        failure_threshold=settings.breaker_failure_threshold,
        reset_seconds=settings.breaker_reset_seconds,
    )


def upstream_client_from(
    settings: Settings,
    provider: str,
    *,
    budget_limit: str,
    background_share: float,
    recorder: Recorder | None,
    transport: httpx.AsyncBaseTransport | None = None,
    redis_link: RedisLink | None = None,
    used_header: str | None = None,
    published_limit: int | None = None,
    hold_statuses: frozenset[int] = frozenset(),
) -> UpstreamClient:
    """A client for one upstream: its own budget, the platform's timeout, retries and breaker.

    The budget, its background share, usage header, published limit and hold statuses
    come from the room's ``UpstreamSpec``.
    """
    try:
        signals = ServerSignals(
            used_header=used_header,
            published_limit=published_limit,
            hold_statuses=hold_statuses,
        )
    except ValueError as exc:
        raise ConfigurationError(f"upstream {provider!r}: {exc}") from exc
    return build_upstream_client(
        provider,
        budget_limit=budget_limit,
        background_share=background_share,
        signals=signals,
        recorder=recorder,
        timeout=settings.upstream_timeout_seconds,
        retry=retry_policy_from(settings),
        breaker=breaker_policy_from(settings),
        transport=transport,
        redis_link=redis_link,
    )


def authenticator_from(settings: Settings) -> Authenticator:
    """The credential checker: the service key, and JWTs when a secret or JWKS is set.

    Its key manager is handed in by the lifespan, once the engine exists.
    """
    verifier = None
    if settings.jwt_secret is not None or settings.jwt_jwks_url is not None:
        verifier = JwtVerifier(
            secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            role_claim=settings.jwt_role_claim,
        )
    service_key = settings.service_key.get_secret_value() if settings.service_key else None
    return Authenticator(
        service_key=service_key, jwt=verifier, cache_seconds=settings.auth_cache_seconds
    )


def inbound_limiter_from(settings: Settings, redis_link: RedisLink | None) -> InboundLimiter:
    """The inbound limiter, counting in Redis when the storage setting asks for it,
    from leases unless ``CACHEFRONT_RATE_LIMIT_EXACT`` asks for a round trip per hit.

    Raises ``ConfigurationError`` naming the setting that cannot be used.
    """
    use_redis = settings.rate_limit_storage == "redis" or (
        settings.rate_limit_storage == "auto" and settings.redis_url is not None
    )
    if use_redis and settings.redis_url is None:
        raise ConfigurationError("CACHEFRONT_RATE_LIMIT_STORAGE=redis needs CACHEFRONT_REDIS_URL")
    try:
        failure_limit = limits.parse(settings.auth_failure_limit)
    except ValueError as exc:
        raise ConfigurationError(
            f"CACHEFRONT_AUTH_FAILURE_LIMIT: cannot read {settings.auth_failure_limit!r}; "
            'expected the limits notation, e.g. "20/minute"'
        ) from exc
    return InboundLimiter(
        parse_rate_limits(settings.rate_limits),
        failure_limit=failure_limit,
        redis_link=redis_link if use_redis else None,
        exact=settings.rate_limit_exact,
    )


def tracer_from(settings: Settings) -> OtelTracer | None:
    """The OpenTelemetry tracer, or None (and nothing of OpenTelemetry imported) without
    an OTLP endpoint; raises ``ConfigurationError`` when the ``otel`` extra is missing."""
    if settings.otel_endpoint is None:
        return None
    try:
        from cachefront.observability.otel import OtelTracer
    except ImportError as exc:
        raise ConfigurationError(
            "CACHEFRONT_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'cachefront[otel]'"
        ) from exc
    return OtelTracer(settings.otel_endpoint, settings.otel_service_name)
