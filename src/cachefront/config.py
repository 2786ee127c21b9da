"""Settings: one typed object read from CACHEFRONT_* environment variables and `.env`.

Every tunable of the server is a field here, and every field is read from the
environment variable ``CACHEFRONT_<FIELD NAME>``. The object is built once by the
CLI or the app factory and handed down; nothing deeper in the code reads the
environment. Secrets are ``SecretStr`` so that printing the settings never shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEFAULT_HORIZONS_URL", "Settings", "masked_settings"]

DEFAULT_HORIZONS_URL = "https://ssd.jpl.nasa.gov/api/horizons.api"

CommaList = Annotated[list[str], NoDecode]


def _default_data_dir() -> Path:
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
        description="Where the embedded PostgreSQL and local files live.",
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
    migrate_on_start: bool = True

    # --- HTTP ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    cors_origins: CommaList = Field(default_factory=list)
    service_key: SecretStr | None = Field(
        default=None, description="Bearer token required on admin routes when set."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- cache -----------------------------------------------------------------
    memory_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    memory_cache_max_entry_bytes: int = Field(default=1024 * 1024, ge=1)
    singleflight_lock_seconds: float = Field(default=35.0, gt=0)

    # --- upstream --------------------------------------------------------------
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
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

    # --- metrics -----------------------------------------------------------------
    metrics_flush_seconds: float = Field(default=2.0, gt=0)
    metrics_buffer_max: int = Field(default=100_000, ge=100)

    @field_validator("cors_origins", "ephemeris_providers", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as plain values, every secret shown as ``**********``."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            out[name] = "**********"
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out
