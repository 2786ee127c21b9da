"""Tests for EphemerisRecord, its JSON form, and the longitude-rate rule both providers share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from cachefront.services.ephemeris.models import (
    EphemerisRecord,
    longitude_rates,
    record_from_json_bytes,
    record_to_json_bytes,
)


def make_record(**changes: object) -> EphemerisRecord:
    fields: dict[str, object] = {
        "body": "mars",
        "at": datetime(2026, 11, 23, 5, tzinfo=UTC),
        "ra_deg": 151.315941066,
        "dec_deg": 13.999453752,
        "distance_au": 1.24710965965748,
        "ecliptic_lon_deg": 148.7859201,
        "ecliptic_lat_deg": 2.1043864,
        "speed_deg_per_day": 0.41,
        "retrograde": False,
        "provider": "horizons",
    }
    fields.update(changes)
    return EphemerisRecord.model_validate(fields)


def test_record_json_has_exactly_the_fields_and_a_z_instant() -> None:
    record = make_record()
    data = orjson.loads(record_to_json_bytes(record))
    assert data == {
        "body": "mars",
        "at": "2026-11-23T05:00:00Z",
        "ra_deg": 151.315941066,
        "dec_deg": 13.999453752,
        "distance_au": 1.24710965965748,
        "ecliptic_lon_deg": 148.7859201,
        "ecliptic_lat_deg": 2.1043864,
        "speed_deg_per_day": 0.41,
        "retrograde": False,
        "provider": "horizons",
    }


def test_record_json_round_trips_exactly() -> None:
    record = make_record(speed_deg_per_day=-0.123456789012345, retrograde=True)
    assert record_from_json_bytes(record_to_json_bytes(record)) == record


def test_record_instants_are_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert make_record(at=datetime(2026, 11, 23, 0, tzinfo=eastern)).at == datetime(
        2026, 11, 23, 5, tzinfo=UTC
    )
    assert make_record(at=datetime(2026, 11, 23, 5)).at.tzinfo is UTC


def test_record_is_immutable() -> None:
    record = make_record()
    with pytest.raises(ValidationError):
        record.ra_deg = 1.0  # type: ignore[misc]


def test_record_requires_every_field() -> None:
    with pytest.raises(ValidationError):
        EphemerisRecord.model_validate({"body": "mars"})


HOURS = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(4)]


def test_longitude_rates_central_inside_one_sided_at_the_ends() -> None:
    rates = longitude_rates(HOURS, [10.0, 10.5, 11.5, 13.0])
    # 24 h per day: (11.5 - 10) / 2 h and (13 - 10.5) / 2 h inside; one-sided at the ends.
    assert rates == pytest.approx([12.0, 18.0, 30.0, 36.0])


def test_longitude_rates_wrap_across_zero() -> None:
    forward = longitude_rates(HOURS, [359.8, 359.9, 0.0, 0.1])
    assert forward == pytest.approx([2.4] * 4)
    backward = longitude_rates(HOURS, [0.1, 0.0, 359.9, 359.8])
    assert backward == pytest.approx([-2.4] * 4)


def test_longitude_rates_need_two_instants() -> None:
    with pytest.raises(ValueError, match="two"):
        longitude_rates(HOURS[:1], [1.0])
    with pytest.raises(ValueError, match="length"):
        longitude_rates(HOURS, [1.0])
