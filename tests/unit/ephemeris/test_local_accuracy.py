"""LocalProvider (Skyfield + DE421) against real Horizons values, and its record contract."""

from __future__ import annotations

import csv
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.providers.horizons_format import parse_response
from cachefront.services.ephemeris.providers.local import LocalProvider

TOLERANCE_ARCSEC = 1.0
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def separation_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance between two RA/Dec points (degrees), by the haversine formula."""
    d1, d2 = math.radians(dec1), math.radians(dec2)
    half_ddec = (d2 - d1) / 2
    half_dra = math.radians(ra2 - ra1) / 2
    h = math.sin(half_ddec) ** 2 + math.cos(d1) * math.cos(d2) * math.sin(half_dra) ** 2
    return math.degrees(2 * math.asin(math.sqrt(h))) * 3600


def test_separation_helper_scales_ra_by_cos_dec() -> None:
    # 1 arcsecond of RA at Dec 60 is half an arcsecond on the sky.
    assert separation_arcsec(10.0, 60.0, 10.0 + 1 / 3600, 60.0) == pytest.approx(0.5, rel=1e-6)
    # Across RA 0/360 the distance is small, not 360 degrees.
    assert separation_arcsec(359.9999, 0.0, 0.0001, 0.0) == pytest.approx(0.72, rel=1e-6)


# The geocentric tables were generated in 2008; later rows are predictions lacking the
# leap seconds of 2008-2016 (up to 4 s), under 0.02" for these slow planets.
@pytest.mark.parametrize("body", [Body.MARS, Body.JUPITER, Body.SATURN, Body.URANUS, Body.NEPTUNE])
def test_astrometric_radec_matches_geocentric_tables(
    horizons_data: Path, local_provider: LocalProvider, body: Body
) -> None:
    raw = (horizons_data / "geocentric" / f"{body.value}.txt").read_bytes()
    rows = parse_response(raw, "text/plain", body=body).rows
    seen = local_provider.observe(body, [row["at"] for row in rows])
    separations = [
        separation_arcsec(float(ra), float(dec), row["ra_deg"], row["dec_deg"])  # type: ignore[arg-type]
        for ra, dec, row in zip(seen.ra_deg, seen.dec_deg, rows, strict=True)
    ]
    worst = max(separations)
    print(f"{body}: {len(rows)} rows, max separation {worst:.3f} arcsec")
    assert worst < TOLERANCE_ARCSEC, f"{body}: max separation {worst:.3f} arcsec"


def test_api_example_radec_range_and_range_rate(
    horizons_data: Path, local_provider: LocalProvider
) -> None:
    raw = (horizons_data / "api" / "mars_geocentric_1998_api_example.json").read_bytes()
    rows = parse_response(raw, "application/json", body=Body.MARS).rows
    seen = local_provider.observe(Body.MARS, [row["at"] for row in rows])
    worst = max(
        separation_arcsec(float(ra), float(dec), row["ra_deg"], row["dec_deg"])  # type: ignore[arg-type]
        for ra, dec, row in zip(seen.ra_deg, seen.dec_deg, rows, strict=True)
    )
    assert worst < TOLERANCE_ARCSEC, f"mars 1998: max separation {worst:.3f} arcsec"
    for distance, rate, row in zip(seen.distance_au, seen.range_rate_km_s, rows, strict=True):
        assert distance == pytest.approx(row["delta_au"], abs=1e-8)  # ~1 km
        assert rate == pytest.approx(row["deldot_km_s"], abs=1e-4)


def test_astrometric_radec_matches_points_1975_to_2050(
    horizons_data: Path, local_provider: LocalProvider
) -> None:
    with (horizons_data / "points.csv").open(newline="") as handle:
        points = list(csv.DictReader(handle))
    assert len(points) == 28
    assert {point["body"] for point in points} == {
        "sun",
        "moon",
        "mercury",
        "venus",
        "mars",
        "jupiter",
        "saturn",
    }
    separations: dict[str, float] = {}
    for point in points:
        at = datetime.fromisoformat(point["at_utc"])
        seen = local_provider.observe(Body(point["body"]), [at])
        separations[f"{point['body']} {point['at_utc']}"] = separation_arcsec(
            float(seen.ra_deg[0]),
            float(seen.dec_deg[0]),
            float(point["ra_deg"]),
            float(point["dec_deg"]),
        )
    worst_point, worst = max(separations.items(), key=lambda item: item[1])
    print(f"points.csv: max separation {worst:.3f} arcsec ({worst_point})")
    assert worst < TOLERANCE_ARCSEC, f"max separation {worst:.3f} arcsec at {worst_point}"


def test_compute_returns_one_record_per_grid_instant(local_provider: LocalProvider) -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    records = local_provider.compute(Body.MARS, start, start + 47 * HOUR, HOUR)
    assert [r.at for r in records] == [start + h * HOUR for h in range(48)]
    assert {r.body for r in records} == {"mars"}
    assert {r.provider for r in records} == {"local"}
    assert all(0 <= r.ecliptic_lon_deg < 360 and 0 <= r.ra_deg < 360 for r in records)


def test_compute_of_an_empty_or_single_window(local_provider: LocalProvider) -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    assert local_provider.compute(Body.SUN, start, start - HOUR, HOUR) == []
    [single] = local_provider.compute(Body.SUN, start, start, HOUR)
    assert single.at == start
    # A lone instant still gets a central-difference rate, from the hidden neighbours.
    assert single.speed_deg_per_day == pytest.approx(1.01, abs=0.02)


def test_speed_matches_the_known_daily_motions(local_provider: LocalProvider) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sun = local_provider.compute(Body.SUN, start, start + 364 * DAY, DAY)
    assert min(r.speed_deg_per_day for r in sun) == pytest.approx(0.953, abs=0.005)
    assert max(r.speed_deg_per_day for r in sun) == pytest.approx(1.019, abs=0.005)
    moon = local_provider.compute(Body.MOON, start, start + 30 * DAY, HOUR)
    assert all(11.5 < r.speed_deg_per_day < 15.5 for r in moon)


def test_retrograde_mars_late_2022(local_provider: LocalProvider) -> None:
    # Mars was retrograde from 2022-10-30 to 2023-01-12.
    def at(year: int, month: int, day: int) -> bool:
        moment = datetime(year, month, day, tzinfo=UTC)
        [record] = local_provider.compute(Body.MARS, moment, moment, HOUR)
        return record.retrograde

    assert not at(2022, 10, 20)
    assert at(2022, 11, 15)
    assert at(2023, 1, 5)
    assert not at(2023, 1, 20)


def test_speed_agrees_with_the_longitude_track(local_provider: LocalProvider) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    records = local_provider.compute(Body.MERCURY, start, start + 10 * DAY, HOUR)
    for before, record, after in zip(records, records[1:], records[2:], strict=False):
        change = (after.ecliptic_lon_deg - before.ecliptic_lon_deg + 180) % 360 - 180
        assert record.speed_deg_per_day == pytest.approx(change / (2 / 24), rel=1e-9)


def test_a_year_hourly_is_one_vectorised_pass(local_provider: LocalProvider) -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    records = local_provider.compute(Body.MOON, start, start + 365 * DAY, HOUR)
    elapsed = time.perf_counter() - began
    assert len(records) == 365 * 24 + 1
    assert elapsed < 10, f"a year of hourly Moon positions took {elapsed:.1f} s"


def test_instants_outside_de421_are_invalid_input(local_provider: LocalProvider) -> None:
    start = datetime(2060, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as caught:
        local_provider.compute(Body.MARS, start, start + HOUR, HOUR)
    assert caught.value.field == "at"
    assert "DE421" in caught.value.detail


async def test_positions_runs_off_the_event_loop(local_provider: LocalProvider) -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    records = await local_provider.positions(Body.VENUS, start, start + 2 * HOUR, HOUR)
    assert records == local_provider.compute(Body.VENUS, start, start + 2 * HOUR, HOUR)


def test_close_then_use_loads_again() -> None:
    provider = LocalProvider()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = provider.compute(Body.SUN, start, start, HOUR)
    provider.close()
    provider.close()  # closing twice is harmless
    assert provider.compute(Body.SUN, start, start, HOUR) == first
    provider.close()
