"""Tests for the Horizons wire format: the query, and parsing every stored real answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cachefront.errors import UpstreamFormatError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.providers.horizons_format import (
    HorizonsRow,
    build_query,
    parse_horizons_time,
    parse_response,
    parse_table,
    rows_to_records,
)

SIGNATURE = {"source": "NASA/JPL Horizons API", "version": "1.2"}


def hms(hours: float, minutes: float, seconds: float) -> float:
    return (hours + minutes / 60 + seconds / 3600) * 15


def dms(sign: int, degrees: float, minutes: float, seconds: float) -> float:
    return sign * (degrees + minutes / 60 + seconds / 3600)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def envelope(**members: object) -> bytes:
    return orjson.dumps({"signature": SIGNATURE, **members})


# --- the query -----------------------------------------------------------------------


def test_build_query_gives_the_documented_parameters() -> None:
    query = build_query(Body.MARS, utc(2026, 11, 23), utc(2026, 11, 24), timedelta(hours=1))
    assert query == {
        "format": "json",
        "COMMAND": "'499'",
        "OBJ_DATA": "'NO'",
        "MAKE_EPHEM": "'YES'",
        "EPHEM_TYPE": "'OBSERVER'",
        "CENTER": "'500@399'",
        "START_TIME": "'2026-11-23 00:00'",
        "STOP_TIME": "'2026-11-24 00:00'",
        "STEP_SIZE": "'60 m'",
        "QUANTITIES": "'1,20,31'",
        "ANG_FORMAT": "'DEG'",
        "CSV_FORMAT": "'YES'",
        "EXTRA_PREC": "'YES'",
    }


def test_build_query_writes_steps_in_minutes_and_times_in_utc() -> None:
    from datetime import timezone

    tokyo = timezone(timedelta(hours=9))
    query = build_query(
        Body.SUN, datetime(2026, 1, 1, 9, tzinfo=tokyo), utc(2026, 1, 3), timedelta(days=1)
    )
    assert query["COMMAND"] == "'10'"
    assert query["START_TIME"] == "'2026-01-01 00:00'"
    assert query["STEP_SIZE"] == "'1440 m'"


def test_build_query_refuses_steps_that_are_not_whole_minutes() -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        build_query(Body.SUN, utc(2026, 1, 1), utc(2026, 1, 2), timedelta(seconds=90))


# --- the JSON example from the API documentation -----------------------------------


def test_api_json_example_first_and_last_rows(horizons_data: Path) -> None:
    raw = (horizons_data / "api" / "mars_geocentric_1998_api_example.json").read_bytes()
    table = parse_response(raw, "application/json", body=Body.MARS)
    assert table.version == "0.2"
    assert table.target == "Mars (499)"
    assert table.target_id == "499"
    assert table.center_site == "GEOCENTRIC"
    assert len(table.rows) == 15

    first, last = table.rows[0], table.rows[-1]
    assert first["at"] == utc(1998, 1, 1, 10)
    assert first.get("ra_deg") == pytest.approx(hms(20, 55, 41.20), abs=1e-12)
    assert first.get("dec_deg") == pytest.approx(dms(-1, 18, 33, 23.0), abs=1e-12)
    assert first.get("delta_au") == 2.13799045474771
    assert first.get("deldot_km_s") == 5.6049390
    assert last["at"] == utc(1998, 1, 2, 0)
    assert last.get("ra_deg") == pytest.approx(hms(20, 57, 32.63), abs=1e-12)
    assert last.get("dec_deg") == pytest.approx(dms(-1, 18, 25, 35.4), abs=1e-12)
    assert last.get("delta_au") == 2.13987759677950
    assert last.get("deldot_km_s") == 5.5975872
    assert [row["at"] for row in table.rows] == [
        utc(1998, 1, 1, 10) + timedelta(hours=h) for h in range(15)
    ]


def test_api_example_as_text_format_parses_the_same(horizons_data: Path) -> None:
    raw = (horizons_data / "api" / "mars_geocentric_1998_api_example.json").read_bytes()
    result = orjson.loads(raw)["result"]
    text = f"API VERSION: 0.2\nAPI SOURCE: NASA/JPL Horizons API\n\n{result}".encode()
    as_text = parse_response(text, "text/plain")
    as_json = parse_response(raw, "application/json")
    assert as_text.version == "0.2"
    assert as_text.rows == as_json.rows


def test_json_is_recognised_without_a_content_type(horizons_data: Path) -> None:
    raw = (horizons_data / "api" / "mars_geocentric_1998_api_example.json").read_bytes()
    assert len(parse_response(raw, None).rows) == 15


# --- the geocentric HMS/DMS tables ---------------------------------------------------

GEOCENTRIC = {
    # body: (rows, first instant, first astrometric RA (h, m, s), Dec (sign, d, m, s))
    Body.MARS: (49, utc(2003, 12, 16), (23, 59, 12.53), (-1, 0, 29, 9.0)),
    Body.JUPITER: (31, utc(2008, 5, 6), (19, 36, 3.67), (-1, 21, 38, 32.4)),
    Body.SATURN: (21, utc(2014, 12, 10), None, None),
    Body.URANUS: (15, utc(2019, 1, 30), (1, 46, 56.46), (1, 10, 28, 54.9)),
    Body.NEPTUNE: (15, utc(2009, 12, 25), None, None),
}


def _table_lines(path: Path) -> list[str]:
    text = path.read_text()
    return [line for line in text.split("$$SOE")[1].split("$$EOE")[0].splitlines() if line]


@pytest.mark.parametrize("body", list(GEOCENTRIC))
def test_geocentric_tables_parse_every_row(horizons_data: Path, body: Body) -> None:
    path = horizons_data / "geocentric" / f"{body.value}.txt"
    rows_expected, first_at, ra, dec = GEOCENTRIC[body]
    table = parse_response(path.read_bytes(), "text/plain", body=body)
    assert table.version is None  # a bare table, without the API prefix
    assert table.target == f"{body.display_name} ({body.horizons_id})"
    assert table.center_site == "GEOCENTRIC"
    assert len(table.rows) == rows_expected == len(_table_lines(path))
    assert table.rows[0]["at"] == first_at
    step = table.rows[1]["at"] - table.rows[0]["at"]
    assert step in {timedelta(hours=1), timedelta(days=1)}
    assert all(b["at"] - a["at"] == step for a, b in zip(table.rows, table.rows[1:], strict=False))
    if ra is not None and dec is not None:
        assert table.rows[0].get("ra_deg") == pytest.approx(hms(*ra), abs=1e-12)
        assert table.rows[0].get("dec_deg") == pytest.approx(dms(*dec), abs=1e-12)
    for row in table.rows:
        # Both the astrometric and the apparent pair are read; the rest is ignored.
        assert set(row) == {"at", "ra_deg", "dec_deg", "ra_app_deg", "dec_app_deg"}
        assert 0 <= row["ra_deg"] < 360  # type: ignore[operator]
        assert -90 <= row["dec_deg"] <= 90  # type: ignore[operator]


def test_hms_row_values_every_token(horizons_data: Path) -> None:
    rows = parse_table((horizons_data / "geocentric" / "mars.txt").read_text())
    # " 2003-Dec-17 22:00     00 03 11.51 +00 00 29.4 00 03 23.00 +00 01 44.3    9.476"
    row = next(row for row in rows if row["at"] == utc(2003, 12, 17, 22))
    assert row.get("ra_deg") == pytest.approx(hms(0, 3, 11.51), abs=1e-12)
    assert row.get("dec_deg") == pytest.approx(dms(1, 0, 0, 29.4), abs=1e-12)
    assert row.get("ra_app_deg") == pytest.approx(hms(0, 3, 23.00), abs=1e-12)
    assert row.get("dec_app_deg") == pytest.approx(dms(1, 0, 1, 44.3), abs=1e-12)
    # "-00 29 09.0": the sign sits on a zero degree field and must not be lost.
    assert rows[0].get("dec_deg") == pytest.approx(-(29 / 60 + 9.0 / 3600), abs=1e-12)


def test_geocentric_table_for_another_body_is_refused(horizons_data: Path) -> None:
    raw = (horizons_data / "geocentric" / "jupiter.txt").read_bytes()
    with pytest.raises(UpstreamFormatError, match=r"Jupiter \(599\)"):
        parse_response(raw, "text/plain", body=Body.SATURN)


# --- CSV in degrees (astroquery's stored Ceres answer) ------------------------------


def test_ceres_csv_degrees_table(horizons_data: Path) -> None:
    raw = (horizons_data / "astroquery" / "ceres_ephemerides_range.txt").read_bytes()
    table = parse_response(raw, "text/plain")
    assert table.version == "1.1"
    assert table.target == "1 Ceres (A801 AA)"
    assert table.target_id is None  # a small body: no major-body id in the name
    assert table.center_site == "GEOCENTRIC"
    assert [row["at"] for row in table.rows] == [
        utc(2022, 6, 10),
        utc(2022, 6, 20),
        utc(2022, 6, 30),
        utc(2022, 7, 10),
    ]
    first, last = table.rows[0], table.rows[-1]
    assert first == {
        "at": utc(2022, 6, 10),
        "ra_deg": 101.73343,
        "dec_deg": 26.78554,
        "ra_app_deg": 102.07267,
        "dec_app_deg": 26.76211,
        "delta_au": 3.51731638211972,
        "deldot_km_s": 7.2339189,
        "ecl_lon_deg": 100.7867811,
        "ecl_lat_deg": 3.7751601,
    }
    assert last.get("ra_deg") == 116.30339
    assert last.get("dec_deg") == 25.79505
    assert last.get("delta_au") == 3.59188943334117
    assert last.get("ecl_lon_deg") == 113.8960191
    assert last.get("ecl_lat_deg") == 4.4869397


def test_ceres_csv_to_records_derives_the_rate(horizons_data: Path) -> None:
    raw = (horizons_data / "astroquery" / "ceres_ephemerides_range.txt").read_bytes()
    rows = parse_response(raw, "text/plain").rows
    records = rows_to_records(rows, Body.MARS)  # any body: the rows are what count here
    assert [r.ecliptic_lon_deg for r in records] == [
        100.7867811,
        105.1084081,
        109.4822081,
        113.8960191,
    ]
    assert records[1].speed_deg_per_day == pytest.approx((109.4822081 - 100.7867811) / 20)
    assert records[0].speed_deg_per_day == pytest.approx((105.1084081 - 100.7867811) / 10)
    assert all(not r.retrograde and r.provider == "horizons" for r in records)
    assert records[0].distance_au == 3.51731638211972


def test_ceres_vectors_table_is_not_an_observer_table(horizons_data: Path) -> None:
    raw = (horizons_data / "astroquery" / "ceres_vectors_range.txt").read_bytes()
    with pytest.raises(UpstreamFormatError, match="not a date"):
        parse_response(raw, "text/plain")


# --- a topocentric fixed-width table in degrees, with blank flag columns ------------


def test_fixed_width_degrees_with_blank_and_filled_flags(horizons_data: Path) -> None:
    rows = parse_table((horizons_data / "venus_observer_1900.txt").read_text())
    assert len(rows) == 36
    by_time = {row["at"]: row for row in rows}
    # " 1900-Jan-01 00:00 A   310.64443 -19.96248 309.32280 -20.24536 242.4657   6.5865"
    assert by_time[utc(1900, 1, 1)] == {
        "at": utc(1900, 1, 1),
        "ra_deg": 310.64443,
        "dec_deg": -19.96248,
    }
    # " 1900-Feb-10 00:00 Nm  357.65731  -2.03815 ..."
    assert by_time[utc(1900, 2, 10)].get("dec_deg") == -2.03815
    # " 1900-Nov-17 00:00     196.35302  -4.95111 ...": both flag columns blank.
    assert by_time[utc(1900, 11, 17)].get("ra_deg") == 196.35302
    assert by_time[utc(1900, 11, 17)].get("dec_deg") == -4.95111


def test_topocentric_table_is_refused_as_an_answer(horizons_data: Path) -> None:
    raw = (horizons_data / "venus_observer_1900.txt").read_bytes()
    with pytest.raises(UpstreamFormatError, match="GEOCENTRIC"):
        parse_response(raw, "text/plain")


# --- refusals ----------------------------------------------------------------------


def test_tlist_error_text_is_an_upstream_format_error(horizons_data: Path) -> None:
    raw = (horizons_data / "astroquery" / "tlist_error.txt").read_bytes()
    with pytest.raises(UpstreamFormatError) as caught:
        parse_response(raw, "text/plain")
    assert caught.value.provider == "horizons"
    assert "BATVAR: no TLIST values found" in caught.value.detail


def test_json_error_member_is_an_upstream_format_error() -> None:
    raw = envelope(error='Cannot interpret date. Type "?!" for help.')
    with pytest.raises(UpstreamFormatError) as caught:
        parse_response(raw, "application/json")
    assert caught.value.detail == 'Cannot interpret date. Type "?!" for help.'


# The candidate list Horizons answers for an ambiguous COMMAND (its documented shape).
AMBIGUOUS = """\
*******************************************************************************
 Multiple major-bodies match string "JUPITER*"

  ID#      Name                               Designation  IAU/aliases/other
  -------  ---------------------------------- -----------  -------------------
        5  Jupiter Barycenter
      599  Jupiter

   Number of matches =  2. Use ID# to make unique selection.
*******************************************************************************
"""


def test_ambiguous_target_is_an_upstream_format_error() -> None:
    with pytest.raises(UpstreamFormatError, match="ambiguous target"):
        parse_response(envelope(result=AMBIGUOUS), "application/json")


def test_no_match_is_an_upstream_format_error() -> None:
    text = " Matching small-bodies:\n    No matches found.\n"
    with pytest.raises(UpstreamFormatError, match="unknown target"):
        parse_response(envelope(result=text), "application/json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html>Service Unavailable</html>", "no ephemeris table"),
        (b"", "empty answer"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (orjson.dumps({"result": "$$SOE\n$$EOE"}), "no signature"),
        (
            orjson.dumps(
                {"signature": {"source": "Somebody else", "version": "1.0"}, "result": ""}
            ),
            "signed by",
        ),
        (
            orjson.dumps({"signature": {**SIGNATURE, "version": "2.0"}, "result": ""}),
            "unsupported API version",
        ),
        (envelope(), "neither a result nor an error"),
        (b"API VERSION: 3.0\nAPI SOURCE: NASA/JPL Horizons API\n\n$$SOE\n$$EOE\n", "version"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_unusable_answers_are_upstream_format_errors(raw: bytes, message: str) -> None:
    with pytest.raises(UpstreamFormatError, match=message):
        parse_response(raw, None)


def test_table_without_end_marker_is_refused() -> None:
    text = (
        " Date__(UT)__HR:MN, , , R.A._(ICRF), DEC_(ICRF),\n"
        "$$SOE\n"
        " 2026-Nov-23 00:00, , , 1.0, 2.0,\n"
    )
    with pytest.raises(UpstreamFormatError, match=r"\$\$EOE"):
        parse_table(text)


def test_table_times_must_be_ut() -> None:
    text = " Date__(TT)__HR:MN:SC.fff, , ,    ObsEcLon,   ObsEcLat,\n$$SOE\n$$EOE\n"
    with pytest.raises(UpstreamFormatError, match="not UT"):
        parse_table(text)


# --- CSV details -------------------------------------------------------------------

CSV_TABLE = """\
 Date__(UT)__HR:MN:SS, , , R.A._(ICRF), DEC_(ICRF),  delta, deldot, ObsEcLon, ObsEcLat,
**************************************************************************************
$$SOE
 2026-Nov-23 00:00:00,*,m,  359.950000000, -0.500000000, 1.00000, 1.00, 359.900,  0.100,
 2026-Nov-23 12:00:00, , ,    0.050000000, -0.400000000, 1.00100, 1.00,   0.100,  0.110,
 2026-Nov-24 00:00:00, , ,    0.150000000, -0.300000000, 1.00200, 1.00,    n.a.,  0.120,
$$EOE
"""


def test_csv_rows_by_header_names_with_flags_and_na() -> None:
    rows = parse_table(CSV_TABLE)
    assert rows[0] == {
        "at": utc(2026, 11, 23),
        "ra_deg": 359.95,
        "dec_deg": -0.5,
        "delta_au": 1.0,
        "deldot_km_s": 1.0,
        "ecl_lon_deg": 359.9,
        "ecl_lat_deg": 0.1,
    }
    assert rows[2].get("ecl_lon_deg") is None


def test_records_need_every_quantity() -> None:
    with pytest.raises(UpstreamFormatError, match="lacks ecl_lon_deg"):
        rows_to_records(parse_table(CSV_TABLE), Body.MOON)


def test_records_wrap_the_rate_across_360() -> None:
    rows = parse_table(CSV_TABLE)[:2]
    records = rows_to_records(rows, Body.MOON)
    # 359.9 -> 0.1 in 12 h is +0.2 degrees, i.e. +0.4 degrees a day, not -719.6.
    assert [r.speed_deg_per_day for r in records] == pytest.approx([0.4, 0.4])
    assert [r.body for r in records] == ["moon", "moon"]


def test_records_detect_retrograde_motion() -> None:
    rows: list[HorizonsRow] = [
        {
            "at": utc(2026, 1, 1) + timedelta(days=day),
            "ra_deg": 10.0,
            "dec_deg": 0.0,
            "delta_au": 1.0,
            "ecl_lon_deg": lon,
            "ecl_lat_deg": 0.0,
        }
        for day, lon in enumerate([0.2, 0.1, 0.0, 359.95])
    ]
    records = rows_to_records(rows, Body.MARS)
    assert all(r.retrograde and r.speed_deg_per_day < 0 for r in records)


def test_a_single_row_has_no_rate() -> None:
    with pytest.raises(UpstreamFormatError, match="at least two rows"):
        rows_to_records(parse_table(CSV_TABLE)[:1], Body.MOON)


def test_rows_out_of_order_are_refused() -> None:
    rows = parse_table(CSV_TABLE)[:2]
    with pytest.raises(UpstreamFormatError, match="out of order"):
        rows_to_records([rows[1], rows[0]], Body.MOON)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2003-Dec-16 00:00", utc(2003, 12, 16)),
        (" 2003-Dec-16 07:05 ", utc(2003, 12, 16, 7, 5)),
        ("2003-dec-16 07:05:09", utc(2003, 12, 16, 7, 5, 9)),
        ("2026-Jul-21 12:10:00.000", utc(2026, 7, 21, 12, 10)),
        ("2026-Jul-21 12:10:00.5", utc(2026, 7, 21, 12, 10, 0, 500000)),
        ("2022-Jun-10", utc(2022, 6, 10)),
    ],
)
def test_parse_horizons_time(text: str, expected: datetime) -> None:
    assert parse_horizons_time(text) == expected


@pytest.mark.parametrize(
    "text", ["b0100-Jan-01 00:00", "2003-Foo-16 00:00", "2003-Feb-30 00:00", "junk"]
)
def test_parse_horizons_time_refuses(text: str) -> None:
    with pytest.raises(UpstreamFormatError):
        parse_horizons_time(text)
