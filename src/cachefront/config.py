"""Settings: one typed object read from CACHEFRONT_* environment variables and `.env`.

Every tunable of the server is a field here, and every field is read from the
environment variable ``CACHEFRONT_<FIELD NAME>``. The object is built once by the
CLI or the app factory and handed down; nothing deeper in the code reads the
environment. Secrets are ``SecretStr`` so that printing the settings never shows them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cachefront.logs import mask_url

__all__ = ["DEFAULT_HORIZONS_URL", "Settings", "masked_settings"]

DEFAULT_HORIZONS_URL = "https://ssd.jpl.nasa.gov/api/horizons.api"

CommaList = Annotated[list[str], NoDecode]


ROOT_DATA_DIR = Path("/var/lib/cachefront")


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        # As root, the embedded PostgreSQL runs as an unprivileged user that must reach
        # its data: a system folder, which every user may traverse already, rather than
        # root's private home (see db/embedded_access.py).
        return ROOT_DATA_DIR
    return Path(platformdirs.user_data_dir("cachefront", appauthor=False))


class Settings(BaseSettings):
    """The effective configuration of one cachefront process."""

    model_config = SettingsConfigDict(
        env_prefix="CACHEFRONT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

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
        description="How long a cache read waits on Redis before counting it down and "
        "answering from the other tiers; raise it for a distant or loaded Redis.",
    )
    migrate_on_start: bool = True

    # --- HTTP ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
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
        description="A service-role credential (Bearer or apikey header), e.g. for admin routes.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
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
    singleflight_lock_seconds: float = Field(default=35.0, gt=0)

    # --- upstream --------------------------------------------------------------
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    user_deadline_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How long a user request waits on an upstream before the next provider "
        "(the local fallback) answers; the upstream call goes on in the background, up to "
        "upstream_timeout_seconds, and fills the cache. Background work (precompute, "
        "exports) always waits the full upstream timeout.",
    )
    upstream_attempts: int = Field(default=3, ge=1, le=10)
    upstream_backoff_seconds: float = Field(default=0.5, ge=0)
    upstream_backoff_max_seconds: float = Field(default=10.0, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # --- ephemeris ---------------------------------------------------------------
    horizons_url: str = DEFAULT_HORIZONS_URL
    horizons_budget: str = Field(
        default="60/minute",
        description="Outbound budget for Horizons in the `limits` notation, shared via Redis.",
    )
    horizons_background_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of the Horizons budget background work may use; the rest is kept "
        "for user-facing misses.",
    )
    ephemeris_providers: CommaList = Field(default_factory=lambda: ["horizons", "local"])
    ephemeris_grid_minutes: int = Field(default=60, ge=1, le=1440)
    ephemeris_batch_steps: int = Field(
        default=24, ge=1, le=1000, description="Grid steps fetched per upstream call."
    )
    ephemeris_max_rows: int = Field(default=2000, ge=1)
    ephemeris_fresh_days: float = Field(default=30.0, gt=0)
    ephemeris_stale_days: float = Field(default=365.0, ge=0)
    ephemeris_fallback_fresh_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long answers from a fallback provider (local) count as fresh; "
        "after that the primary (Horizons) is asked again in the background.",
    )
    ephemeris_local_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Threads the local provider computes in. More only compete with the "
        "event loop for the GIL; one keeps the loop responsive.",
    )
    ephemeris_local_queue: int = Field(
        default=32,
        ge=0,
        le=10_000,
        description="Local computations that may wait for a thread; past it a request "
        "is refused at once (503 with Retry-After) instead of queueing without bound.",
    )

    # --- metrics -----------------------------------------------------------------
    metrics_flush_seconds: float = Field(default=2.0, gt=0)
    metrics_buffer_max: int = Field(default=100_000, ge=100)

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
    worker_restart_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait between attempts to restart a job worker that stopped "
        "(the database went away); waits double from 0.5 s up to this, jittered.",
    )
    precompute_schedule: str = "0 * * * *"
    precompute_hours: int = Field(default=48, ge=1, le=24 * 31)
    precompute_bodies: CommaList = Field(
        default_factory=lambda: ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn"]
    )
    cleanup_schedule: str = "30 3 * * *"
    cleanup_batch_rows: int = Field(default=5000, ge=1)
    prune_metrics_schedule: str = "45 3 * * *"
    metrics_retention_days: float = Field(default=30.0, gt=0)
    export_max_rows: int = Field(default=200_000, ge=1)

    @field_validator("db_app_role", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "ephemeris_providers",
        "precompute_bodies",
        "anon_route_groups",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as plain values, every secret shown as ``**********``.

    URL-valued settings that are not secrets (upstream and JWKS URLs) are shown with
    any credentials in them masked (``mask_url``): a key pasted into a query string
    must not be printed either.
    """
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            out[name] = "**********"
        elif isinstance(value, Path):
            out[name] = str(value)
        elif isinstance(value, str) and "://" in value:
            out[name] = mask_url(value)
        else:
            out[name] = value
    return out
