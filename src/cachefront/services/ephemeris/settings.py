"""The ephemeris room's settings: Horizons, the provider chain, the grid, precompute, exports.

Read from the same environment as the platform's, under the names deployments know
(``CACHEFRONT_HORIZONS_URL``, ``CACHEFRONT_EPHEMERIS_PROVIDERS``, ...); the platform's
``Settings`` holds one of these: ``settings.room(EphemerisSettings)``.
"""

from __future__ import annotations

from pydantic import Field

from cachefront.config import CommaList, RoomSettings
from cachefront.services.ephemeris.providers.horizons import DEFAULT_HORIZONS_URL

__all__ = ["EphemerisSettings"]


class EphemerisSettings(RoomSettings):
    """Everything the ephemeris room reads from ``CACHEFRONT_*``."""

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
    precompute_schedule: str = "0 * * * *"
    precompute_hours: int = Field(default=48, ge=1, le=24 * 31)
    precompute_bodies: CommaList = Field(
        default_factory=lambda: ["sun", "moon", "mercury", "venus", "mars", "jupiter", "saturn"]
    )
    export_max_rows: int = Field(default=200_000, ge=1)
