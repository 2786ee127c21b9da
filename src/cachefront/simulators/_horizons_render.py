"""Writing Horizons observer tables: the header lines, column titles and rows of each format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cachefront.services.ephemeris.providers.local import Observations
from cachefront.simulators._horizons_query import _MONTHS, _Query

_RULE = "*" * 79


def _calendar(at: datetime, *, seconds: bool = False) -> str:
    text = f"{at.year:04d}-{_MONTHS[at.month - 1]}-{at.day:02d} {at.hour:02d}:{at.minute:02d}"
    return f"{text}:{at.second:02d}.0000" if seconds else text


def _hms(degrees: float, decimals: int) -> str:
    scale = 10**decimals
    total = round((degrees % 360.0) / 15.0 * 3600.0 * scale) % (24 * 3600 * scale)
    whole_seconds, fraction = divmod(total, scale)
    minutes, seconds = divmod(whole_seconds, 60)
    hours, minutes = divmod(minutes, 60)
    width = 3 + decimals if decimals else 2
    seconds_text = f"{seconds + fraction / scale:0{width}.{decimals}f}"
    return f"{hours:02d} {minutes:02d} {seconds_text}"


def _dms(degrees: float, decimals: int) -> str:
    scale = 10**decimals
    sign = "-" if degrees < 0 else "+"
    total = round(abs(degrees) * 3600.0 * scale)
    whole_seconds, fraction = divmod(total, scale)
    minutes, seconds = divmod(whole_seconds, 60)
    whole, minutes = divmod(minutes, 60)
    width = 3 + decimals if decimals else 2
    seconds_text = f"{seconds + fraction / scale:0{width}.{decimals}f}"
    return f"{sign}{whole:02d} {minutes:02d} {seconds_text}"


@dataclass(frozen=True)
class _Column:
    label: str
    width: int
    render: Callable[[int], str]


def _columns(query: _Query, seen: Observations) -> list[_Column]:
    """The table columns, in Horizons' order and widths, for the quantities asked."""
    columns: list[_Column] = []
    if "1" in query.quantities:
        if query.degrees:
            places = 9 if query.extra_precision else 5
            width = places + 5
            ra = [f"{value:{width}.{places}f}" for value in seen.ra_deg]
            dec = [f"{value:{width}.{places}f}" for value in seen.dec_deg]
        else:
            ra = [_hms(value, 4 if query.extra_precision else 2) for value in seen.ra_deg]
            dec = [_dms(value, 3 if query.extra_precision else 1) for value in seen.dec_deg]
        if query.csv:
            columns.append(_Column("R.A._(ICRF)", len(ra[0]) + 1, ra.__getitem__))
            columns.append(_Column("DEC_(ICRF)", len(dec[0]) + 1, dec.__getitem__))
        else:
            pair = [f"{r} {d}" for r, d in zip(ra, dec, strict=True)]
            width = len(pair[0])
            underscores = max(width - len("R.A.(ICRF)DEC"), 2)
            label = (
                f"R.A.{'_' * (underscores // 2)}(ICRF){'_' * (underscores - underscores // 2)}DEC"
            )
            columns.append(_Column(label, max(width, len(label)), pair.__getitem__))
    if "20" in query.quantities:
        delta = [f"{value:.14f}" for value in seen.distance_au]
        deldot = [f"{value:.7f}" for value in seen.range_rate_km_s]
        columns.append(_Column("delta", 18, delta.__getitem__))
        columns.append(_Column("deldot", 11, deldot.__getitem__))
    if "31" in query.quantities:
        lon = [f"{value:.7f}" for value in seen.ecl_lon_deg]
        lat = [f"{value:.7f}" for value in seen.ecl_lat_deg]
        columns.append(_Column("ObsEcLon", 12, lon.__getitem__))
        columns.append(_Column("ObsEcLat", 11, lat.__getitem__))
    return columns


def _table_lines(query: _Query, seen: Observations) -> tuple[str, list[str]]:
    columns = _columns(query, seen)
    date_label = " Date__(UT)__HR:MN"
    if query.csv:
        header = date_label + ", , ," + "".join(f"{c.label:>{c.width}}," for c in columns)
        rows = [
            f" {_calendar(at)}, , ," + "".join(f"{c.render(i):>{c.width}}," for c in columns)
            for i, at in enumerate(seen.times)
        ]
    else:
        header = date_label + "    " + " ".join(f"{c.label:>{c.width}}" for c in columns)
        rows = [
            f" {_calendar(at)}    " + " ".join(f"{c.render(i):>{c.width}}" for c in columns)
            for i, at in enumerate(seen.times)
        ]
    return header, rows


def _render_table(query: _Query, seen: Observations) -> str:
    """The ``result`` text: header block, column header, and the ``$$SOE`` table."""
    header, rows = _table_lines(query, seen)
    rule = "*" * max(len(header), 79)
    target = f"{query.body.display_name} ({query.body.horizons_id})"
    now = datetime.now(UTC).strftime("%a %b %d %H:%M:%S %Y")
    minutes = int(query.step / timedelta(minutes=1))
    lines = [
        " ",
        _RULE,
        f"Ephemeris / API_USER {now} Pasadena, USA      / Horizons",
        _RULE,
        f"Target body name: {target:<32}{{source: DE441}}",
        f"Center body name: {'Earth (399)':<32}{{source: DE441}}",
        "Center-site name: GEOCENTRIC",
        _RULE,
        f"Start time      : A.D. {_calendar(query.start, seconds=True)} UT",
        f"Stop  time      : A.D. {_calendar(query.stop, seconds=True)} UT",
        f"Step-size       : {minutes} minutes",
        _RULE,
        "Center geodetic : 0.0, 0.0, 0.0                  {E-lon(deg),Lat(deg),Alt(km)}",
        "Center cylindric: 0.0, 0.0, 0.0                  {E-lon(deg),Dxy(km),Dz(km)}",
        "Target primary  : Sun",
        "Rel. light bend : Sun                            {source: DE441}",
        "Atmos refraction: NO (AIRLESS)",
        f"RA format       : {'DEG' if query.degrees else 'HMS'}",
        "Time format     : CAL",
        "Units conversion: 1 au= 149597870.700 km, c= 299792.458 km/s, 1 day= 86400.0 s",
        *(["Table format    : Comma Separated Values (spreadsheet)"] if query.csv else []),
        rule,
        header,
        rule,
        "$$SOE",
        *rows,
        "$$EOE",
        rule,
        "Column meaning: see https://ssd.jpl.nasa.gov/horizons/manual.html",
        rule,
        "",
    ]
    return "\n".join(lines)


def _no_match_text(command: str) -> str:
    return "\n".join(
        [
            _RULE,
            "JPL/DASTCOM            Small-body Index Search Results",
            "",
            " Comet AND asteroid index search:",
            "",
            f"   NAME = {command};",
            "",
            " Matching small-bodies:",
            "    No matches found.",
            _RULE,
            "",
        ]
    )


# --- the application -------------------------------------------------------------------
