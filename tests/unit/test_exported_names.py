"""Pins the exported names of every package under cachefront, in one place.

Each package declares its public surface in ``__all__``; the lists below are that
surface, so a change to it shows as a change to this file (httpx pins its surface
the same way in tests/test_exported_members.py). A new package must add its list here.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import cachefront

EXPORTED: dict[str, list[str]] = {
    "cachefront": [],
    "cachefront.auth": [
        "ApiKey",
        "Authenticator",
        "Identity",
        "IdentityDep",
        "JwtVerifier",
        "KeyManager",
        "Kind",
        "Role",
        "SERVICE_IDENTITY",
        "as_identity",
        "credential_of",
        "current_identity",
        "generate_key",
        "get_identity",
        "hash_key",
        "install_isolation",
        "key_prefix",
        "require_service",
    ],
    "cachefront.cache": [
        "BatchStore",
        "CacheEntry",
        "CachePolicy",
        "Cached",
        "Decision",
        "EntryStore",
        "Fetch",
        "FetchMany",
        "Fetched",
        "Freshness",
        "MemoryStore",
        "Overtime",
        "PostgresStore",
        "RedisStore",
        "SingleFlight",
        "Tier",
        "TieredCache",
        "build_cache",
        "classify",
        "compute_etag",
        "decide",
        "make_entry",
    ],
    "cachefront.db": [],
    "cachefront.http": [],
    "cachefront.jobs": [
        "JobStatus",
    ],
    "cachefront.metrics": [],
    "cachefront.observability": [],
    "cachefront.ratelimit": [
        "DEFAULT_RATE_LIMITS",
        "FAILED_AUTH_GROUP",
        "GROUPS",
        "InboundLimiter",
        "LocalCounter",
        "SERVICE_ONLY_GROUPS",
        "SUCCESS_CHARGED_GROUPS",
        "Verdict",
        "parse_rate_limits",
        "route_group",
    ],
    "cachefront.services": [
        "ROOMS",
    ],
    "cachefront.services.ai": [],
    "cachefront.services.ai.providers": [
        "Catalog",
        "OpenAICompatibleProvider",
        "ProviderAnswer",
        "ProviderConfig",
        "ProviderFailure",
        "ProviderStream",
        "Target",
        "provider_configs",
    ],
    "cachefront.services.ephemeris": [],
    "cachefront.services.ephemeris.providers": [
        "DEFAULT_HORIZONS_URL",
        "EphemerisProvider",
        "HorizonsProvider",
        "HorizonsRow",
        "HorizonsTable",
        "HttpRequester",
        "LocalProvider",
        "Observations",
        "build_query",
        "parse_response",
        "parse_table",
        "rows_to_records",
    ],
    "cachefront.services.prices": [],
    "cachefront.services.prices.providers": [
        "BROWSER_USER_AGENT",
        "BinanceError",
        "BinanceProvider",
        "ChartSeries",
        "HttpRequester",
        "LIST_MAX_SYMBOLS",
        "PriceProvider",
        "TradingPair",
        "UnknownAssetError",
        "YahooCredentials",
        "YahooError",
        "YahooProvider",
        "YahooSession",
    ],
    "cachefront.services.prices.simulators": [
        "BinanceConfig",
        "PricePath",
        "RunningBinance",
        "RunningServer",
        "RunningYahoo",
        "YahooConfig",
        "create_binance",
        "create_yahoo",
        "serve_binance",
        "serve_yahoo",
    ],
    "cachefront.simulators": [],
    "cachefront.upstream": [
        "BreakerPolicy",
        "BreakerState",
        "BreakerTransport",
        "BudgetTransport",
        "CircuitBreaker",
        "DEFAULT_ATTEMPTS",
        "DEFAULT_BACKGROUND_SHARE",
        "DEFAULT_BACKOFF_MAX_SECONDS",
        "DEFAULT_BACKOFF_SECONDS",
        "DEFAULT_BREAKER",
        "DEFAULT_FAILURE_THRESHOLD",
        "DEFAULT_MAX_USER_WAIT_SECONDS",
        "DEFAULT_RESET_SECONDS",
        "DEFAULT_RETRY",
        "DEFAULT_TIMEOUT_SECONDS",
        "NO_SIGNALS",
        "NetworkTransport",
        "OutboundBudget",
        "Priority",
        "Recorder",
        "RetryPolicy",
        "RetryTransport",
        "ServerSignals",
        "UpstreamClient",
        "UpstreamHold",
        "build_upstream_client",
        "parse_retry_after",
    ],
}


def _packages() -> list[str]:
    found = pkgutil.walk_packages(cachefront.__path__, prefix="cachefront.")
    return ["cachefront", *sorted(info.name for info in found if info.ispkg)]


def test_every_package_has_a_pinned_list() -> None:
    assert _packages() == sorted(EXPORTED)


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_the_exported_names_are_the_pinned_ones(package: str) -> None:
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package} has no __all__"
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    assert sorted(exported) == EXPORTED[package]


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_every_exported_name_is_importable(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], f"{package}.__all__ names what it does not define"
