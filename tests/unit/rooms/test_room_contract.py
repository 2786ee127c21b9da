"""The room contract as the platform reads it: settings, the list, groups, services by type."""

from __future__ import annotations

import pytest

from cachefront.config import RoomSettings, Settings, env_name, masked_settings
from cachefront.db.base import metadata
from cachefront.errors import ConfigurationError
from cachefront.http.cors import CorsPolicy, cors_request_headers_of
from cachefront.ratelimit import DEFAULT_RATE_LIMITS, GROUPS, parse_rate_limits, route_group
from cachefront.rooms import RoomServices
from cachefront.services import ROOMS
from cachefront.services.ephemeris.settings import EphemerisSettings

# Every environment variable a deployment may set, as it was before settings moved into
# the rooms: deployments depend on these names.
ENVIRONMENT_NAMES = {
    f"CACHEFRONT_{name.upper()}"
    for name in [
        "ai_answer_cap",
        "ai_api_key",
        "ai_base_url",
        "ai_budget",
        "ai_cache_seconds",
        "ai_daily_tokens",
        "ai_deadline_seconds",
        "ai_generation_keep_days",
        "ai_generation_model",
        "ai_generation_url",
        "ai_model",
        "ai_prices",
        "ai_providers",
        "ai_reflection_model",
        "ai_requests_per_minute",
        "ai_usage_keep_days",
        "anon_route_groups",
        "auth_cache_seconds",
        "auth_failure_limit",
        "binance_published_weight",
        "body_timeout_seconds",
        "breaker_failure_threshold",
        "breaker_reset_seconds",
        "cache_evict_schedule",
        "cache_quotas",
        "cache_read_flush_seconds",
        "cache_read_resolution_seconds",
        "cleanup_batch_rows",
        "cleanup_schedule",
        "cors_origins",
        "data_dir",
        "database_direct_url",
        "database_pool_size",
        "database_replica_check_seconds",
        "database_replica_max_lag_seconds",
        "database_replica_url",
        "database_url",
        "db_app_role",
        "direct_hits",
        "ephemeris_batch_steps",
        "ephemeris_fallback_fresh_seconds",
        "ephemeris_fresh_days",
        "ephemeris_grid_minutes",
        "ephemeris_local_queue",
        "ephemeris_local_threads",
        "ephemeris_max_rows",
        "ephemeris_providers",
        "ephemeris_stale_days",
        "export_max_rows",
        "header_timeout_seconds",
        "health_cached_p95_critical_ms",
        "health_cached_p95_warn_ms",
        "health_check_seconds",
        "health_error_rate_critical",
        "health_error_rate_warn",
        "health_hit_rate_critical",
        "health_hit_rate_warn",
        "health_job_backlog_critical",
        "health_job_backlog_warn",
        "health_min_requests",
        "health_stalled_jobs_critical",
        "health_stalled_jobs_warn",
        "health_storage_quota_bytes",
        "health_upstream_failure_critical",
        "health_upstream_failure_warn",
        "health_webhook_attempts",
        "health_webhook_timeout_seconds",
        "health_webhook_url",
        "health_window_minutes",
        "horizons_background_share",
        "horizons_budget",
        "horizons_url",
        "host",
        "job_events_heartbeat_seconds",
        "job_events_max_seconds",
        "jobs_cleanup_schedule",
        "jobs_max_attempts",
        "jobs_result_max_bytes",
        "jobs_result_ttl_hours",
        "jobs_retention_hours",
        "jobs_retry_base_seconds",
        "jobs_stall_seconds",
        "jobs_storage_quota_bytes",
        "jwt_audience",
        "jwt_issuer",
        "jwt_jwks_url",
        "jwt_leeway_seconds",
        "jwt_role_claim",
        "jwt_secret",
        "log_format",
        "log_level",
        "max_body_bytes",
        "max_connections",
        "max_header_bytes",
        "memory_cache_bytes",
        "memory_cache_max_entry_bytes",
        "memory_cache_sync",
        "metrics_bind",
        "metrics_buffer_max",
        "metrics_flush_seconds",
        "metrics_recording",
        "metrics_retention_days",
        "migrate_on_start",
        "otel_endpoint",
        "otel_service_name",
        "port",
        "precompute_bodies",
        "precompute_hours",
        "precompute_schedule",
        "prometheus_enabled",
        "prune_metrics_schedule",
        "rate_limit_exact",
        "rate_limit_storage",
        "rate_limits",
        "redis_prefix",
        "redis_socket_timeout_seconds",
        "redis_url",
        "service_key",
        "shutdown_timeout_seconds",
        "singleflight_lock_seconds",
        "trusted_proxies",
        "upstream_attempts",
        "upstream_backoff_max_seconds",
        "upstream_backoff_seconds",
        "upstream_call_costs",
        "upstream_timeout_seconds",
        "user_deadline_seconds",
        "worker_concurrency",
        "worker_in_process",
        "worker_restart_max_seconds",
        "workers",
    ]
}
# The prices room's, added with it.
ENVIRONMENT_NAMES |= {
    f"CACHEFRONT_{name.upper()}"
    for name in [
        "binance_background_share",
        "binance_budget",
        "binance_url",
        "prices_batch_max_symbols",
        "prices_keep_all_daily",
        "prices_keep_daily_days",
        "prices_keep_weekly_days",
        "prices_partitions_ahead_years",
        "prices_providers",
        "prices_refresh_seconds",
        "prices_stale_days",
        "yahoo_background_share",
        "yahoo_batch_size",
        "yahoo_budget",
        "yahoo_cookie_url",
        "yahoo_url",
    ]
}


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_every_environment_name_is_kept() -> None:
    settings = _settings()
    names = {env_name(name) for name in Settings.model_fields} | {
        env_name(name) for part in settings.rooms for name in type(part).model_fields
    }
    assert names == ENVIRONMENT_NAMES


def test_each_room_has_its_settings_in_the_list_order() -> None:
    settings = _settings()
    assert [type(part) for part in settings.rooms] == [room.settings_model for room in ROOMS]
    assert all(issubclass(room.settings_model, RoomSettings) for room in ROOMS)


def test_room_settings_come_from_keywords_and_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHEFRONT_HORIZONS_URL", "http://from-env.example/api")
    monkeypatch.setenv("CACHEFRONT_EPHEMERIS_PROVIDERS", "local, horizons")
    settings = _settings(ephemeris_grid_minutes=30, port=9000)
    own = settings.room(EphemerisSettings)
    assert own.horizons_url == "http://from-env.example/api"
    assert own.ephemeris_providers == ["local", "horizons"]
    assert own.ephemeris_grid_minutes == 30
    assert settings.port == 9000
    # A copy of the platform's settings keeps the rooms'.
    copy = settings.model_copy(update={"port": 9001})
    assert copy.room(EphemerisSettings).ephemeris_grid_minutes == 30


def test_an_invalid_room_setting_names_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHEFRONT_HORIZONS_BACKGROUND_SHARE", "3")
    with pytest.raises(ConfigurationError, match="CACHEFRONT_HORIZONS_BACKGROUND_SHARE"):
        _settings()
    with pytest.raises(ConfigurationError, match="CACHEFRONT_PORT"):
        _settings(port=70000, horizons_background_share=0.5)


def test_a_model_no_room_declares_is_refused() -> None:
    class Stray(RoomSettings):
        pass

    with pytest.raises(ConfigurationError, match="Stray"):
        _settings().room(Stray)


def test_masked_settings_show_every_room_with_credentials_masked() -> None:
    settings = _settings(horizons_url="https://h.example/api?api_key=secret-key")
    values = masked_settings(settings)
    assert values["horizons_url"] == "https://h.example/api?api_key=***"
    assert values["precompute_hours"] == 48
    assert values["port"] == 8000


def test_rooms_are_named_after_their_folders_and_their_tables_are_on_the_metadata() -> None:
    names = [room.name for room in ROOMS]
    assert len(set(names)) == len(names)
    for room in ROOMS:
        assert type(room).__module__ == f"cachefront.services.{room.name}.room"
        assert all(table.metadata is metadata for table in room.tables)


def test_room_routes_join_their_groups_before_the_platform_rules() -> None:
    for room in ROOMS:
        for rule in room.route_groups:
            assert route_group("GET", rule.prefix + "/x") == rule.group
    assert GROUPS[-1] == "general"
    assert set(DEFAULT_RATE_LIMITS) <= set(GROUPS)
    assert set(parse_rate_limits({})) == set(GROUPS)


def test_services_are_found_by_type() -> None:
    class Prices:
        pass

    class Answers:
        pass

    prices = Prices()
    services = RoomServices([prices])
    assert services.get(Prices) is prices
    with pytest.raises(LookupError, match="no room opened a Answers"):
        services.get(Answers)
    with pytest.raises(ValueError, match="two rooms opened a Prices"):
        services.add(Prices())


def test_every_rooms_cors_request_headers_make_a_policy() -> None:
    declared = cors_request_headers_of(ROOMS)
    policy = CorsPolicy(["*"], request_headers=declared)
    for room in ROOMS:
        for name in getattr(room, "cors_request_headers", ()):
            asked = name.replace("*", "any").lower().encode()
            assert policy.preflight(b"https://app.example", b"POST", asked).status == 204
