"""The ephemeris record every provider returns, and its compact JSON form for caches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "EphemerisRecord",
    "format_instant",
    "longitude_rates",
    "record_from_json_bytes",
    "record_to_json_bytes",
]

_ONE_DAY = timedelta(days=1)


class EphemerisRecord(BaseModel):
    """The geocentric position of one body at one grid instant.

    ``ra_deg``/``dec_deg`` are astrometric ICRF (Horizons quantity 1); ``distance_au`` is
    the observer range "delta" (quantity 20); the ecliptic pair is the apparent position in
    the ecliptic and equinox of date (quantity 31, ObsEcLon/ObsEcLat), and
    ``speed_deg_per_day`` is the rate of that longitude, negative while retrograde.
    """

    model_config = ConfigDict(frozen=True)

    body: str
    at: datetime
    ra_deg: float
    dec_deg: float
    distance_au: float
    ecliptic_lon_deg: float
    ecliptic_lat_deg: float
    speed_deg_per_day: float
    retrograde: bool
    provider: str

    @field_validator("at")
    @classmethod
    def _at_in_utc(cls, value: datetime) -> datetime:
        # Naive instants are UTC by the project's convention; others are converted.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def format_instant(at: datetime) -> str:
    """``at`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), the form stored and served."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_to_json_bytes(record: EphemerisRecord) -> bytes:
    """The record as compact JSON, ``at`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
    # Built by hand rather than with model_dump: this runs for every cached row.
    payload: dict[str, Any] = {
        "body": record.body,
        "at": format_instant(record.at),
        "ra_deg": record.ra_deg,
        "dec_deg": record.dec_deg,
        "distance_au": record.distance_au,
        "ecliptic_lon_deg": record.ecliptic_lon_deg,
        "ecliptic_lat_deg": record.ecliptic_lat_deg,
        "speed_deg_per_day": record.speed_deg_per_day,
        "retrograde": record.retrograde,
        "provider": record.provider,
    }
    return orjson.dumps(payload)


def record_from_json_bytes(data: bytes) -> EphemerisRecord:
    """The record ``record_to_json_bytes`` wrote (pydantic validates every field)."""
    return EphemerisRecord.model_validate(orjson.loads(data))


def longitude_rates(times: Sequence[datetime], longitudes: Sequence[float]) -> list[float]:
    """The rate of ``longitudes`` (degrees) at each of ``times``, in degrees per day.

    Central differences inside, one-sided at both ends; each difference is wrapped into
    [-180, 180) so a longitude crossing 360 -> 0 reads as a small forward step. Both
    providers derive ``speed_deg_per_day`` with this, so they agree by construction.
    """
    count = len(times)
    if count != len(longitudes):
        raise ValueError("times and longitudes differ in length")
    if count < 2:
        raise ValueError("a rate needs at least two instants")
    rates: list[float] = []
    for index in range(count):
        before = max(index - 1, 0)
        after = min(index + 1, count - 1)
        days = (times[after] - times[before]) / _ONE_DAY
        rates.append(_wrap(longitudes[after] - longitudes[before]) / days)
    return rates


def _wrap(degrees: float) -> float:
    """``degrees`` folded into [-180, 180)."""
    return (degrees + 180.0) % 360.0 - 180.0
