"""The composition root: each setting reaches the object it configures, and bad ones fail fast."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from cachefront import composition
from cachefront.cache import RedisStore
from cachefront.config import Settings
from cachefront.errors import ConfigurationError
from cachefront.ratelimit.limiter import REDIS_USE as LIMITER_REDIS_USE
from cachefront.rooms import UpstreamSpec
from cachefront.upstream import NO_SIGNALS, BreakerPolicy, RetryPolicy, ServerSignals

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def test_no_redis_url_means_no_link() -> None:
    assert composition.redis_link_from(Settings(redis_url=None)) is None


async def test_the_link_takes_the_prefix_and_timeout() -> None:
    settings = Settings(
        redis_url=SecretStr(UNREACHABLE_REDIS),
        redis_prefix="dep2",
        redis_socket_timeout_seconds=0.75,
    )
    link = composition.redis_link_from(settings)
    assert link is not None
    assert link.prefix == "dep2"
    assert link.pool.connection_kwargs["socket_timeout"] == 0.75
    await link.aclose()


async def test_the_cache_is_sized_and_timed_as_configured() -> None:
    settings = Settings(
        redis_url=SecretStr(UNREACHABLE_REDIS),
        memory_cache_bytes=1234,
        memory_cache_max_entry_bytes=99,
        user_deadline_seconds=3.5,
    )
    link = composition.redis_link_from(settings)
    memory = composition.memory_from(settings)
    cache = composition.cache_from(settings, None, memory=memory, redis_link=link)
    assert (cache.memory.max_bytes, cache.memory.max_entry_bytes) == (1234, 99)
    assert cache.memory is memory
    assert isinstance(cache.redis, RedisStore)
    assert cache.db is None
    assert cache.overtime.deadline == 3.5
    await cache.aclose()
    assert link is not None
    await link.aclose()


def test_every_upstream_client_gets_the_platform_policies() -> None:
    settings = Settings(
        upstream_timeout_seconds=7,
        upstream_attempts=4,
        upstream_backoff_seconds=0.2,
        upstream_backoff_max_seconds=3,
        breaker_failure_threshold=9,
        breaker_reset_seconds=12,
    )
    client = composition.upstream_client_from(
        settings, "probe", budget_limit="10/minute", background_share=0.3, recorder=None
    )
    assert client.timeout == 7
    assert client.retry == RetryPolicy(attempts=4, backoff=0.2, backoff_max=3)
    assert client.breaker.policy == BreakerPolicy(failure_threshold=9, reset_seconds=12)
    assert client.budget is not None
    assert (client.budget.limit, client.budget.background_amount) == ("10/minute", 3)


def test_the_upstream_signals_reach_the_budget() -> None:
    client = composition.upstream_client_from(
        Settings(),
        "weighted",
        budget_limit="3000/minute",
        background_share=0.5,
        recorder=None,
        used_header="X-Used-Weight",
        published_limit=6000,
        hold_statuses=frozenset({418, 429}),
    )
    assert client.budget is not None
    assert client.budget.signals == ServerSignals(
        used_header="X-Used-Weight", published_limit=6000, hold_statuses=frozenset({418, 429})
    )


def test_an_upstream_spec_listens_to_no_signals_by_default() -> None:
    spec = UpstreamSpec("plain", "60/minute", 0.5)
    client = composition.upstream_client_from(
        Settings(),
        spec.name,
        budget_limit=spec.budget,
        background_share=spec.background_share,
        recorder=None,
        used_header=spec.used_header,
        published_limit=spec.published_limit,
        hold_statuses=spec.hold_statuses,
    )
    assert client.budget is not None
    assert client.budget.signals == NO_SIGNALS


def test_upstream_signals_that_cannot_work_name_the_upstream() -> None:
    with pytest.raises(ConfigurationError, match=r"'weighted'.*used_header"):
        composition.upstream_client_from(
            Settings(),
            "weighted",
            budget_limit="3000/minute",
            background_share=0.5,
            recorder=None,
            published_limit=6000,
        )


async def test_the_limiter_counts_in_redis_when_a_link_exists_and_storage_is_auto() -> None:
    settings = Settings(redis_url=SecretStr(UNREACHABLE_REDIS), rate_limit_storage="auto")
    link = composition.redis_link_from(settings)
    limiter = composition.inbound_limiter_from(settings, link)
    await limiter.open()
    assert link is not None
    assert LIMITER_REDIS_USE in link.uses
    await limiter.aclose()
    await link.aclose()


async def test_memory_storage_leaves_the_link_to_the_others() -> None:
    settings = Settings(redis_url=SecretStr(UNREACHABLE_REDIS), rate_limit_storage="memory")
    link = composition.redis_link_from(settings)
    limiter = composition.inbound_limiter_from(settings, link)
    await limiter.open()
    assert link is not None
    assert LIMITER_REDIS_USE not in link.uses
    await limiter.aclose()
    await link.aclose()


def test_redis_storage_without_a_redis_url_names_the_settings() -> None:
    settings = Settings(redis_url=None, rate_limit_storage="redis")
    with pytest.raises(ConfigurationError, match="CACHEFRONT_REDIS_URL"):
        composition.inbound_limiter_from(settings, None)


def test_an_unreadable_failure_limit_names_the_setting() -> None:
    settings = Settings(auth_failure_limit="twenty a minute")
    with pytest.raises(ConfigurationError, match="CACHEFRONT_AUTH_FAILURE_LIMIT"):
        composition.inbound_limiter_from(settings, None)


def test_the_authenticator_verifies_jwts_only_when_configured() -> None:
    assert composition.authenticator_from(Settings(auth_cache_seconds=4)).jwt is None
    authenticator = composition.authenticator_from(
        Settings(jwt_secret=SecretStr("s" * 32), auth_cache_seconds=4)
    )
    assert authenticator.jwt is not None
    assert authenticator.cache_seconds == 4
