"""Settings: one typed object read from CACHEFRONT_* environment variables and `.env`.

Every tunable of the server is a field, read from the environment variable
``CACHEFRONT_<FIELD NAME>``. The platform's fields are on ``Settings``; each room
declares its own model (a ``RoomSettings``) read from the same environment, and
``Settings`` holds one of each, built with it: ``settings.room(ThatRoomSettings)``.
``Settings(**values)`` accepts every room's fields too, so a test or a caller builds
the whole configuration in one call. The object is built once by the CLI or the app
factory and handed down; nothing deeper in the code reads the environment. Secrets
are ``SecretStr`` so that printing the settings never shows them. An invalid value
raises ``ConfigurationError`` naming its environment variable.
"""

from __future__ import annotations

import functools
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import platformdirs
from pydantic import (
    BeforeValidator,
    ByteSize,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cachefront.errors import ConfigurationError
from cachefront.logs import mask_url
from cachefront.validation import error_message

__all__ = [
    "ENV_PREFIX",
    "MIN_SERVICE_KEY_CHARS",
    "CommaList",
    "RoomSettings",
    "Settings",
    "env_name",
    "masked_settings",
]

ENV_PREFIX = "CACHEFRONT_"
# The shortest service key accepted: 32 characters of a random key are past guessing.
MIN_SERVICE_KEY_CHARS = 32
RoomSettingsT = TypeVar("RoomSettingsT", bound="RoomSettings")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list setting written ``a,b,c`` in the environment."""

_CONFIG = SettingsConfigDict(
    env_prefix=ENV_PREFIX,
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
)

ROOT_DATA_DIR = Path("/var/lib/cachefront")


def env_name(field: str) -> str:
    """The environment variable of a setting: ``horizons_url`` -> ``CACHEFRONT_HORIZONS_URL``."""
    return f"{ENV_PREFIX}{field.upper()}"


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        # As root, the embedded PostgreSQL runs as an unprivileged user that must reach
        # its data: a system folder, which every user may traverse already, rather than
        # root's private home (see db/embedded_access.py).
        return ROOT_DATA_DIR
    return Path(platformdirs.user_data_dir("cachefront", appauthor=False))


def _standard_otlp_endpoint() -> str | None:
    # The variable every OpenTelemetry SDK reads: a deployment that sets it for all its
    # services gets traces from this one too, without a setting of its own.
    return os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def _configuration_error(
    exc: ValidationError, model: type[BaseSettings]
) -> tuple[ConfigurationError, bool]:
    """The pydantic error as one message naming each environment variable at fault.

    The value given is quoted, but for secrets (``SecretStr`` fields), which are masked
    like ``cachefront config`` masks them; the second item says whether one was.
    """
    problems = []
    secret = False
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "?"
        info = model.model_fields.get(field)
        if info is not None and _holds_secret(info.annotation):
            secret = True
            given = "**********"
        else:
            given = repr(error.get("input"))
        problems.append(f"{env_name(field)}: {error_message(error)} (got {given})")
    return ConfigurationError("; ".join(problems)), secret


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


class RoomSettings(BaseSettings):
    """The base of every room's settings model: the same prefix and ``.env`` as the platform."""

    model_config = _CONFIG


@functools.cache
def _room_settings_models() -> tuple[type[RoomSettings], ...]:
    # Imported here, not at the top: every room imports this module for Settings, so
    # the list of rooms can only be read once this module is loaded.
    from cachefront.services import ROOMS

    models = tuple(room.settings_model for room in ROOMS)
    seen = set(Settings.model_fields)
    for model in models:
        clash = seen & set(model.model_fields)
        if clash:
            raise ConfigurationError(
                f"{model.__name__} declares settings another room or the platform has: "
                + ", ".join(sorted(env_name(name) for name in clash))
            )
        seen |= set(model.model_fields)
    return models


class Settings(BaseSettings):
    """The effective configuration of one cachefront process."""

    model_config = _CONFIG

    # One settings object per room, in the list's order, keyed by its model.
    _rooms: dict[type[RoomSettings], RoomSettings] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        # Options of the sources (``_env_file``, ...) apply to the rooms' models as well.
        options = {key: value for key, value in values.items() if key.startswith("_")}
        own = {key: value for key, value in values.items() if key in type(self).model_fields}
        rooms: dict[type[RoomSettings], RoomSettings] = {}
        try:
            model: type[BaseSettings] = type(self)
            super().__init__(**options, **own)
            for model in _room_settings_models():
                fields = {key: value for key, value in values.items() if key in model.model_fields}
                rooms[model] = model(**options, **fields)
        except ValidationError as exc:
            error, secret = _configuration_error(exc, model)
            if secret:
                # pydantic's own error quotes the value given: keep the secret out of
                # tracebacks and logs; the message above says all the cause would.
                raise error from None
            raise error from exc
        self._rooms = rooms

    def room(self, model: type[RoomSettingsT]) -> RoomSettingsT:
        """The settings of the room whose model is ``model``."""
        try:
            found = self._rooms[model]
        except KeyError:
            raise ConfigurationError(f"no room in the list declares {model.__name__}") from None
        assert isinstance(found, model)
        return found

    @property
    def rooms(self) -> tuple[RoomSettings, ...]:
        """Every room's settings, in the order of the list of rooms."""
        return tuple(self._rooms.values())

    # --- storage ---------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded PostgreSQL and local files live (default: the "
        "user's data folder, e.g. ~/.local/share/cachefront; /var/lib/cachefront as root).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL; unset means an embedded PostgreSQL in data_dir.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_direct_url: SecretStr | None = Field(
        default=None,
        description="A direct (or session-pooled) PostgreSQL URL for what a transaction "
        "pooler cannot carry: migrations, the job worker's LISTEN and the memory-tier sync's "
        "LISTEN. Setting it says CACHEFRONT_DATABASE_URL is a transaction pooler (PgBouncer "
        "pool_mode=transaction): no prepared statements there, the app role set per "
        "transaction.",
    )
    database_replica_url: SecretStr | None = Field(
        default=None,
        description="A streaming replica's URL; heavy reads (stats, history ranges, job "
        "listings) go there while it answers and keeps up, else to the primary.",
    )
    database_replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A replica further behind the primary than this is not read from.",
    )
    database_replica_check_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the replica's health and lag are checked.",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis URL; unset means no Redis tier (memory + PostgreSQL)."
    )
    redis_prefix: str = Field(
        default="cf",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="Prefix of every Redis key, so several deployments can share one Redis.",
    )
    redis_socket_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        description="How long any Redis command (cache, locks, limits, budgets) waits "
        "before Redis counts as down and each use falls back locally; also the connect "
        "timeout. Raise it for a distant or loaded Redis.",
    )
    migrate_on_start: bool = True

    # --- HTTP ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, how long in-flight requests, streams and running jobs get "
        "to finish before the process stops anyway.",
    )
    cors_origins: CommaList = Field(
        default_factory=list,
        description="Origins browser apps may call from (e.g. https://app.example), or *.",
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses or CIDR networks of reverse proxies whose X-Forwarded-For "
        "is believed (the right-most untrusted hop is the client); empty: the peer is.",
    )
    service_key: SecretStr | None = Field(
        default=None,
        description="A service-role credential (Bearer or apikey header), e.g. for admin "
        f"routes; at least {MIN_SERVICE_KEY_CHARS} characters.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one human line per record; json: one JSON object per line in "
        "every process, and one access line per request (request id, route, status, "
        "latency, cache tier, caller kind, client; never a credential).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=0, description="Request bodies larger than this get 413."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection whose request line and headers are not complete this long "
        "after it opened (or after the request's first byte, on a keep-alive connection) "
        "is closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request body not fully received this long after its headers is cut "
        "(the connection is closed).",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Request line and headers larger than this, in total, get 431.",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections per server process; a request arriving past it gets "
        "503 and its connection is closed.",
    )
    direct_hits: bool = Field(
        default=True,
        description="Answer fresh memory-tier hits of the hot routes from the HTTP server's "
        "protocol, before ASGI, with the same authentication, limits and headers; "
        "anything else goes through the application as usual.",
    )

    # --- auth and inbound limits -----------------------------------------------------
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret of access tokens (e.g. Supabase's JWT secret)."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="JWKS URL of an OIDC provider whose access tokens are accepted."
    )
    jwt_issuer: str | None = Field(default=None, description="Required `iss` of access tokens.")
    jwt_audience: str | None = Field(default=None, description="Required `aud` of access tokens.")
    jwt_leeway_seconds: float = Field(
        default=30.0, ge=0, le=300, description="Clock skew tolerated on exp/nbf/iat."
    )
    jwt_role_claim: str = Field(default="role", description="Claim naming the caller's role.")
    anon_route_groups: CommaList = Field(
        default_factory=lambda: ["general", "upstream"],
        description="Route groups callers without credentials may use.",
    )
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Inbound limits per route group, e.g. {"general": "200/minute"}; '
        "groups not named keep their defaults.",
    )
    rate_limit_storage: Literal["auto", "memory", "redis"] = Field(
        default="auto", description="Where inbound limits count; auto: Redis when configured."
    )
    rate_limit_exact: bool = Field(
        default=False,
        description="Count every request in Redis (one round trip each) instead of "
        "spending leases of units in process memory; leases may leave up to about 8% "
        "of a limit unused, exact counting costs hot-path throughput.",
    )
    auth_failure_limit: str = Field(
        default="20/minute",
        description="Failed authentications allowed per client address, in the limits "
        "notation; past it the address's credentials get 429 (throttles key guessing).",
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long a verified API key is trusted in-process."
    )
    db_app_role: str | None = Field(
        default="cachefront_app",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role the server's queries run as (SET ROLE), so row-level "
        "security applies; empty to stay the login role.",
    )

    # --- cache -----------------------------------------------------------------
    memory_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    memory_cache_max_entry_bytes: int = Field(default=1024 * 1024, ge=1)
    memory_cache_sync: bool = Field(
        default=True,
        description="Keep every process's memory tier in step: each write or delete of "
        "the shared tiers is announced (Redis pub/sub, else PostgreSQL LISTEN/NOTIFY) "
        "and the other processes drop those keys from memory.",
    )
    singleflight_lock_seconds: float = Field(default=35.0, gt=0)
    cache_quotas: dict[str, ByteSize] = Field(
        default_factory=dict,
        description='Bytes of values each namespace may keep in PostgreSQL, e.g. {"name": '
        '"200MB"} (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024, or a plain number of '
        "bytes); past it the least recently read entries are evicted. Namespaces not "
        "named have no quota.",
    )
    cache_read_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often each process writes the reads of namespaces with a quota "
        "to PostgreSQL (last_read_at), in batches.",
    )
    cache_read_resolution_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="How coarse last_read_at is: an entry's row is written at most once "
        "per this many seconds, however often it is read.",
    )
    cache_evict_schedule: str = Field(
        default="*/5 * * * *",
        description="When the namespaces with a quota are measured and those over it "
        "evicted (cron, UTC); each run is one pass over their rows.",
    )

    # --- upstream --------------------------------------------------------------
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    user_deadline_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How long a user request waits on an upstream before the next provider "
        "(a local fallback) answers; the upstream call goes on in the background, up to "
        "upstream_timeout_seconds, and fills the cache. Background work (jobs, periodic "
        "tasks) always waits the full upstream timeout.",
    )
    upstream_attempts: int = Field(default=3, ge=1, le=10)
    upstream_backoff_seconds: float = Field(default=0.5, ge=0)
    upstream_backoff_max_seconds: float = Field(default=10.0, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # --- metrics -----------------------------------------------------------------
    metrics_flush_seconds: float = Field(default=2.0, gt=0)
    metrics_buffer_max: int = Field(default=100_000, ge=100)
    metrics_recording: bool = Field(
        default=True,
        description="Record requests, upstream calls and callers for the stats, health "
        "checks, dashboard and /metrics; off records nothing (their figures stay empty), "
        "which is what the hot-path benchmark compares against.",
    )
    prometheus_enabled: bool = Field(
        default=True,
        description="Count requests and upstream calls for GET /metrics (Prometheus); off "
        "leaves out their cost and /metrics answers 404.",
    )
    metrics_bind: str | None = Field(
        default=None,
        description="host:port of a second listener serving only /metrics, without "
        "authentication, for Prometheus on a private address; unset: none.",
    )
    otel_endpoint: str | None = Field(
        default_factory=_standard_otlp_endpoint,
        description="OTLP/HTTP base URL (e.g. http://collector:4318) to send OpenTelemetry "
        "traces to: a span per request, with child spans for cache tier lookups and "
        "upstream calls. Unset: the standard OTEL_EXPORTER_OTLP_ENDPOINT, else no tracing "
        "(needs the otel extra).",
    )
    otel_service_name: str = Field(
        default="cachefront",
        min_length=1,
        description="The service.name of the spans this deployment sends.",
    )
    upstream_call_costs: dict[str, float] = Field(
        default_factory=dict,
        description='Price of one call (each attempt sent) to each upstream, e.g. {"name": '
        "0.002}, for the stats' estimated cost and cost saved; upstreams not named cost 0.",
    )

    # --- health checks and alerts (cachefront.observability) ------------------------
    health_window_minutes: float = Field(
        default=15.0, gt=0, le=24 * 60, description="The window rates and latency are judged on."
    )
    health_min_requests: int = Field(
        default=20, ge=1, description="Fewer requests than this in the window are not judged."
    )
    health_hit_rate_warn: float = Field(default=0.80, ge=0, le=1)
    health_hit_rate_critical: float = Field(default=0.50, ge=0, le=1)
    health_error_rate_warn: float = Field(default=0.05, ge=0, le=1)
    health_error_rate_critical: float = Field(default=0.20, ge=0, le=1)
    health_cached_p95_warn_ms: float = Field(default=500.0, gt=0)
    health_cached_p95_critical_ms: float = Field(default=2000.0, gt=0)
    health_upstream_failure_warn: float = Field(default=0.10, ge=0, le=1)
    health_upstream_failure_critical: float = Field(default=0.50, ge=0, le=1)
    health_job_backlog_warn: int = Field(default=100, ge=0)
    health_job_backlog_critical: int = Field(default=1000, ge=0)
    health_stalled_jobs_warn: int = Field(default=0, ge=0)
    health_stalled_jobs_critical: int = Field(default=10, ge=0)
    health_storage_quota_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Database size it may reach: warn at 80%, critical past it; unset: "
        "not checked.",
    )
    health_check_seconds: float = Field(
        default=30.0, gt=0, description="How often each process runs the checks for alerts."
    )
    health_webhook_url: SecretStr | None = Field(
        default=None,
        description="Where a change of health is posted (Slack- and Discord-compatible "
        "JSON); a secret, as such URLs carry their token.",
    )
    health_webhook_attempts: int = Field(default=4, ge=1, le=20)
    health_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # --- jobs (cachefront.jobs) ------------------------------------------------------
    worker_in_process: bool = Field(
        default=True, description="Run a job worker inside every `cachefront serve` process."
    )
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    jobs_stall_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A running job whose worker sent no heartbeat for this long is requeued.",
    )
    jobs_max_attempts: int = Field(default=5, ge=1, le=50)
    jobs_retry_base_seconds: int = Field(
        default=2, ge=1, description="Retry n waits base**n seconds (exponential backoff)."
    )
    jobs_cleanup_schedule: str = "15 4 * * *"
    jobs_retention_hours: int = Field(
        default=168,
        ge=1,
        description="Finished queue jobs (and their events) older than this are deleted by "
        "the daily cleanup; the `jobs` records users poll are kept.",
    )
    jobs_result_ttl_hours: float = Field(
        default=168.0,
        gt=0,
        description="How long a job's result can be downloaded after it finished; then it "
        "answers 410 and the daily cleanup removes it.",
    )
    jobs_result_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Largest result a job may store; a larger one fails the job.",
    )
    jobs_storage_quota_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        description="Bytes of unexpired results each user may hold; past it submissions "
        "get 409 and a job whose result would not fit fails.",
    )
    job_events_max_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="How long one `GET /v1/jobs/{id}/events` stream stays open; then it "
        "ends and the client reconnects with Last-Event-ID.",
    )
    job_events_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="A job event stream with nothing to say sends a comment this often, "
        "so proxies with an idle timeout keep it open.",
    )
    worker_restart_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait between attempts to restart a job worker that stopped "
        "(the database went away); waits double from 0.5 s up to this, jittered.",
    )
    cleanup_schedule: str = "30 3 * * *"
    cleanup_batch_rows: int = Field(default=5000, ge=1)
    prune_metrics_schedule: str = "45 3 * * *"
    metrics_retention_days: float = Field(default=30.0, gt=0)

    @field_validator("service_key")
    @classmethod
    def _service_key_not_guessable(cls, value: SecretStr | None) -> SecretStr | None:
        # A valid credential is always admitted, however often its address failed, so
        # the failure throttle slows wrong guesses but never stops a right one: the
        # key's length is what keeps it from being guessed online.
        if value is not None and len(value.get_secret_value()) < MIN_SERVICE_KEY_CHARS:
            raise ValueError(
                f"must be at least {MIN_SERVICE_KEY_CHARS} characters (it is "
                f"{len(value.get_secret_value())}); make one with: python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("metrics_bind", mode="before")
    @classmethod
    def _bind_is_host_port(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        # Imported here: the listener's module is observability's, loaded only if used.
        from cachefront.observability.scrape_bind import parse_bind

        parse_bind(str(value))
        return str(value)

    @field_validator("db_app_role", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The platform's and every room's settings as plain values, every secret masked.

    Secrets show as ``**********``. URL-valued settings that are not secrets (upstream
    and JWKS URLs) are shown with any credentials in them masked (``mask_url``): a key
    pasted into a query string must not be printed either.
    """
    out: dict[str, Any] = {}
    for part in (settings, *settings.rooms):
        for name in type(part).model_fields:
            value = getattr(part, name)
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif isinstance(value, Path):
                out[name] = str(value)
            elif isinstance(value, str) and "://" in value:
                out[name] = mask_url(value)
            else:
                out[name] = value
    return out
