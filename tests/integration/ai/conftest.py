"""Fixtures of the AI gateway tests: OpenAI simulators over HTTP and gateway servers before them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ai_harness import PRIMARY_KEY, SECONDARY_KEY, SERVICE_KEY, providers_json

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread, server_settings
from http_fixtures import empty_cache

__all__ = ["empty_cache"]


@pytest.fixture(scope="session")
def primary_session() -> Iterator[RunningOpenAISimulator]:
    with RunningOpenAISimulator(api_key=PRIMARY_KEY) as running:
        yield running


@pytest.fixture(scope="session")
def secondary_session() -> Iterator[RunningOpenAISimulator]:
    with RunningOpenAISimulator(api_key=SECONDARY_KEY) as running:
        yield running


def _fresh(sim: RunningOpenAISimulator, key: str) -> RunningOpenAISimulator:
    sim.configure(
        latency_ms=0,
        error_rate=0.0,
        rate_limit=None,
        tokens_per_second=None,
        abort_after_chunks=None,
        fail_next=0,
        fail_status=429,
        api_key=key,
    )
    sim.reset()
    return sim


@pytest.fixture
def primary(primary_session: RunningOpenAISimulator) -> RunningOpenAISimulator:
    """The first provider: healthy, fast, counters zeroed; it wants PRIMARY_KEY."""
    return _fresh(primary_session, PRIMARY_KEY)


@pytest.fixture
def secondary(secondary_session: RunningOpenAISimulator) -> RunningOpenAISimulator:
    """The second provider of the chain; it wants SECONDARY_KEY."""
    return _fresh(secondary_session, SECONDARY_KEY)


@pytest.fixture
def ai_settings(
    database_url: str, primary: RunningOpenAISimulator, empty_cache: None
) -> Callable[..., Settings]:
    """Settings of a gateway in front of the primary simulator (overrides as keywords),
    over an empty PostgreSQL tier and fresh Redis keys."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "horizons_url": "http://127.0.0.1:9/api/horizons.api",
            "ephemeris_providers": ["local"],
            "service_key": SERVICE_KEY,
            "ai_providers": providers_json(("primary", primary, PRIMARY_KEY)),
            "upstream_timeout_seconds": 10.0,
            "ai_deadline_seconds": 10.0,
            "rate_limits": {"general": "100000/minute", "ai": "100000/minute"},
            "worker_in_process": False,
            "redis_prefix": f"cft{uuid.uuid4().hex[:10]}",
        }
        values.update(overrides)
        return server_settings(values)

    return make


@pytest.fixture
def serve_app() -> Callable[[Settings], ServerThread]:
    return ServerThread
