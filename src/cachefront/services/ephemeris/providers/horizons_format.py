"""The JPL Horizons API wire format: the query we send and the parsing of every answer shape.

Pure functions, no I/O. The answer is a JSON envelope (``format=json``) or plain text
prefixed by ``API VERSION``/``API SOURCE`` lines (``format=text``); either way the table
sits between ``$$SOE`` and ``$$EOE`` under a header line naming its columns. Horizons
reports its own errors (bad date, unknown or ambiguous target) with HTTP 200, so every
answer without a table becomes an UpstreamFormatError here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, NotRequired, TypedDict

import orjson

from cachefront.errors import UpstreamFormatError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord, longitude_rates

__all__ = [
    "HORIZONS_SOURCE",
    "PROVIDER_NAME",
    "HorizonsRow",
    "HorizonsTable",
    "build_query",
    "format_horizons_time",
    "parse_horizons_time",
    "parse_response",
    "parse_table",
    "rows_to_records",
]

PROVIDER_NAME = "horizons"
HORIZONS_SOURCE = "NASA/JPL Horizons API"

# Versions 0.2 (the 2020 documentation example) through 1.3 share the table format; the
# docs warn that another major version may change it, so anything else is refused.
_SUPPORTED_MAJOR_VERSIONS = frozenset({"0", "1"})

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(_MONTHS, start=1)}

_DATE_PATTERN = re.compile(
    r"^(?P<bc>b?)(?P<year>\d{4})-(?P<month>[A-Za-z]{3})-(?P<day>\d{1,2})"
    r"(?:\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<frac>\d+))?)?)?$"
)
_VERSION_LINE = re.compile(r"^API VERSION:\s*(\S+)\s*$", re.MULTILINE)
_SOURCE_LINE = re.compile(r"^API SOURCE:\s*(.+?)\s*$", re.MULTILINE)
_TARGET_LINE = re.compile(r"^Target body name:\s*(.+?)\s*(?:\{.*\})?\s*$", re.MULTILINE)
_CENTER_SITE_LINE = re.compile(r"^Center-site name:\s*(.+?)\s*$", re.MULTILINE)
_ID_IN_NAME = re.compile(r"\((-?\d+)\)")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")

_JD_UNIX_EPOCH = 2440587.5
_ONE_DAY = timedelta(days=1)

# Header column names (CSV form) -> the row keys we keep. Everything else is ignored.
_CSV_COLUMNS = {
    "R.A._(ICRF)": "ra_deg",
    "DEC_(ICRF)": "dec_deg",
    "R.A._(a-app)": "ra_app_deg",
    "DEC_(a-app)": "dec_app_deg",
    "delta": "delta_au",
    "deldot": "deldot_km_s",
    "ObsEcLon": "ecl_lon_deg",
    "ObsEcLat": "ecl_lat_deg",
}
_RA_KEYS = frozenset({"ra_deg", "ra_app_deg"})
_DEC_KEYS = frozenset({"dec_deg", "dec_app_deg"})


class HorizonsRow(TypedDict):
    """One table row: its UTC instant and the quantities we read (None when "n.a.")."""

    at: datetime
    ra_deg: NotRequired[float | None]
    dec_deg: NotRequired[float | None]
    ra_app_deg: NotRequired[float | None]
    dec_app_deg: NotRequired[float | None]
    delta_au: NotRequired[float | None]
    deldot_km_s: NotRequired[float | None]
    ecl_lon_deg: NotRequired[float | None]
    ecl_lat_deg: NotRequired[float | None]


@dataclass(frozen=True, slots=True)
class HorizonsTable:
    """A parsed answer: the API version, the header facts we verify, and the rows."""

    version: str | None
    target: str | None
    center_site: str | None
    rows: list[HorizonsRow]

    @property
    def target_id(self) -> str | None:
        """The id in ``Target body name: Mars (499)``, when the header names one."""
        if self.target is None:
            return None
        found = _ID_IN_NAME.search(self.target)
        return found.group(1) if found else None


def _error(detail: str) -> UpstreamFormatError:
    return UpstreamFormatError(PROVIDER_NAME, detail)


def format_horizons_time(at: datetime) -> str:
    """``at`` as Horizons reads a START_TIME/STOP_TIME: ``2026-11-23 00:00`` (UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def build_query(body: Body, start: datetime, stop: datetime, step: timedelta) -> dict[str, str]:
    """The Horizons API query parameters for a geocentric observer table of ``body``.

    One call covers the whole window: ``start`` to ``stop`` inclusive every ``step``
    (whole minutes). Values are quoted the way the API expects.
    """
    minutes, remainder = divmod(step, timedelta(minutes=1))
    if remainder or minutes < 1:
        raise ValueError(f"Horizons steps are whole minutes, got {step}")
    return {
        "format": "json",
        "COMMAND": f"'{body.horizons_id}'",
        "OBJ_DATA": "'NO'",
        "MAKE_EPHEM": "'YES'",
        "EPHEM_TYPE": "'OBSERVER'",
        "CENTER": "'500@399'",
        "START_TIME": f"'{format_horizons_time(start)}'",
        "STOP_TIME": f"'{format_horizons_time(stop)}'",
        "STEP_SIZE": f"'{minutes} m'",
        "QUANTITIES": "'1,20,31'",
        "ANG_FORMAT": "'DEG'",
        "CSV_FORMAT": "'YES'",
        "EXTRA_PREC": "'YES'",
    }


def parse_response(
    body_bytes: bytes, content_type: str | None, *, body: Body | None = None
) -> HorizonsTable:
    """The table in a Horizons API answer, JSON envelope or plain text.

    Raises UpstreamFormatError when the answer is not from Horizons, has an unknown
    major version, reports an error, has no table (ambiguous or unknown target), is not
    geocentric, or (``body`` given) is about another target.
    """
    try:
        text = body_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error("answer is not UTF-8 text") from exc
    is_json = "json" in (content_type or "").lower() or text.lstrip().startswith(("{", "["))
    version, result = _unwrap_json(text) if is_json else _unwrap_text(text)
    if "$$SOE" not in result:
        raise _error(_describe_refusal(result))

    target_line = _TARGET_LINE.search(result)
    site_line = _CENTER_SITE_LINE.search(result)
    table = HorizonsTable(
        version=version,
        target=target_line.group(1) if target_line else None,
        center_site=site_line.group(1) if site_line else None,
        rows=parse_table(result),
    )
    if table.center_site is not None and table.center_site.upper() != "GEOCENTRIC":
        raise _error(f"expected a GEOCENTRIC table, got center site {table.center_site!r}")
    if body is not None and table.target is not None and table.target_id != body.horizons_id:
        raise _error(f"asked for {body.display_name} ({body.horizons_id}), got {table.target!r}")
    return table


def _check_version(version: str | None) -> None:
    if version is not None and version.split(".", 1)[0] not in _SUPPORTED_MAJOR_VERSIONS:
        raise _error(f"unsupported API version {version!r}")


def _check_source(source: object) -> None:
    if source != HORIZONS_SOURCE:
        raise _error(f"answer signed by {source!r}, not {HORIZONS_SOURCE!r}")


def _unwrap_json(text: str) -> tuple[str | None, str]:
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _error("answer is not valid JSON") from exc
    if not isinstance(data, dict):
        raise _error("JSON answer is not an object")
    signature = data.get("signature")
    if not isinstance(signature, dict):
        raise _error("JSON answer has no signature")
    _check_source(signature.get("source"))
    version = signature.get("version")
    version = str(version) if version is not None else None
    _check_version(version)
    if "error" in data:
        raise _error(str(data["error"]).strip() or "Horizons reported an unnamed error")
    result = data.get("result")
    if not isinstance(result, str):
        raise _error("JSON answer has neither a result nor an error")
    return version, result


def _unwrap_text(text: str) -> tuple[str | None, str]:
    version_line = _VERSION_LINE.search(text[:400])
    if version_line is None:
        # Without the API prefix this is a bare Horizons output (batch or e-mail form).
        return None, text
    source_line = _SOURCE_LINE.search(text[:400])
    _check_source(source_line.group(1) if source_line else None)
    version = version_line.group(1)
    _check_version(version)
    body_start = source_line.end() if source_line else version_line.end()
    return version, text[body_start:]


def _describe_refusal(result: str) -> str:
    """A short reason for an answer that has no table, from its own words."""
    lowered = result.lower()
    lines = [
        line.strip() for line in result.splitlines() if line.strip() and set(line.strip()) != {"*"}
    ]
    summary = "; ".join(lines[:3])[:300]
    if "number of matches" in lowered or "multiple major-bodies" in lowered:
        return f"ambiguous target, no table: {summary}"
    if "no matches found" in lowered:
        return f"unknown target, no table: {summary}"
    return f"no ephemeris table in the answer: {summary}" if summary else "empty answer"


def parse_horizons_time(text: str) -> datetime:
    """A Horizons calendar date (``2003-Dec-16 00:00``, seconds optional) as UTC."""
    match = _DATE_PATTERN.match(text.strip())
    if match is None:
        raise _error(f"cannot read the date {text.strip()!r}")
    if match["bc"]:
        raise _error(f"B.C. dates are not supported: {text.strip()!r}")
    month = _MONTH_NUMBERS.get(match["month"].lower())
    if month is None:
        raise _error(f"unknown month in {text.strip()!r}")
    micro = int((match["frac"] or "0").ljust(6, "0")[:6])
    try:
        return datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise _error(f"impossible date {text.strip()!r}") from exc


def _from_julian_day(text: str) -> datetime:
    try:
        days = float(text) - _JD_UNIX_EPOCH
    except ValueError as exc:
        raise _error(f"cannot read the Julian day {text!r}") from exc
    # Printed to 1e-9 day (86 microseconds): round to the millisecond.
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=days)
    return at.replace(microsecond=round(at.microsecond, -3) % 1_000_000)


def _sexagesimal(parts: list[str], *, hours: bool) -> float:
    """``['20', '55', '41.20']`` or ``['-00', '29', '09.0']`` as decimal degrees."""
    negative = parts[0].startswith("-")
    whole, minutes, seconds = (abs(float(part)) for part in parts)
    value = whole + minutes / 60.0 + seconds / 3600.0
    if hours:
        value *= 15.0
    return -value if negative else value


def _value(cell: str, key: str) -> float | None:
    """A cell as a float; "n.a." or blank as None; "hh mm ss" or "sdd mm ss" as degrees."""
    cleaned = cell.strip()
    if not cleaned or cleaned == "n.a.":
        return None
    parts = cleaned.split()
    try:
        if len(parts) == 3 and key in _RA_KEYS | _DEC_KEYS:
            return _sexagesimal(parts, hours=key in _RA_KEYS)
        return float(cleaned)
    except ValueError as exc:
        raise _error(f"cannot read {cleaned!r} as {key}") from exc


def _find_table(text: str) -> tuple[str, list[str]]:
    """The header line above ``$$SOE`` and the lines between ``$$SOE`` and ``$$EOE``."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "$$SOE")
    except StopIteration:
        raise _error("no $$SOE line: the answer holds no table") from None
    try:
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "$$EOE")
    except StopIteration:
        raise _error("no $$EOE line: the table is cut short") from None
    header = next(
        (line for line in reversed(lines[:start]) if line.strip() and set(line.strip()) != {"*"}),
        None,
    )
    if header is None:
        raise _error("no header line above $$SOE")
    return header, [line for line in lines[start + 1 : end] if line.strip()]


def parse_table(text: str) -> list[HorizonsRow]:
    """The rows of the ``$$SOE``..``$$EOE`` table in ``text``, columns named by its header.

    Reads CSV tables (``CSV_FORMAT=YES``) and the fixed-width ones, with RA/Dec in
    degrees or as ``hh mm ss.ff`` / ``sdd mm ss.f``. The presence-flag columns after the
    date may be blank, so values are found by reading numbers, never by position alone.
    """
    header, lines = _find_table(text)
    if "," in header:
        return _parse_csv(header, lines)
    return _parse_fixed(header, lines)


def _date_kind(name: str) -> str:
    """``calendar`` or ``jd`` for a date column name; only UT tables are accepted."""
    if "JD" in name:
        if not name.endswith("JDUT"):
            raise _error(f"table times are not UT: {name!r}")
        return "jd"
    if "(UT)" not in name:
        raise _error(f"table times are not UT: {name!r}")
    return "calendar"


def _parse_csv(header: str, lines: list[str]) -> list[HorizonsRow]:
    names = [name.strip() for name in header.split(",")]
    if not names[0].startswith("Date"):
        raise _error(f"first column is not a date: {names[0]!r}")
    kind = _date_kind(names[0])
    wanted = [
        (index, _CSV_COLUMNS[name]) for index, name in enumerate(names) if name in _CSV_COLUMNS
    ]
    rows: list[HorizonsRow] = []
    for line in lines:
        cells = line.split(",")
        if len(cells) < len(names) - 1:
            raise _error(f"row has {len(cells)} cells, header has {len(names)}: {line.strip()!r}")
        at = parse_horizons_time(cells[0]) if kind == "calendar" else _from_julian_day(cells[0])
        row: HorizonsRow = {"at": at}
        for index, key in wanted:
            row[key] = _value(cells[index], key)  # type: ignore[literal-required]
        rows.append(row)
    return rows


@dataclass(frozen=True, slots=True)
class _FixedColumn:
    keys: tuple[str | None, ...]  # one key per value; None for values we skip
    ra_pair: bool  # an R.A./DEC pair: 2 numbers in degrees, 6 in HMS/DMS


def _fixed_columns(header: str) -> tuple[str, list[_FixedColumn]]:
    labels = header.split()
    date_label, rest = labels[0], labels[1:]
    columns: list[_FixedColumn] = []
    for label in rest:
        if label.startswith("R.A."):
            if "ICRF" in label:
                keys: tuple[str | None, ...] = ("ra_deg", "dec_deg")
            elif "a-app" in label:
                keys = ("ra_app_deg", "dec_app_deg")
            else:
                keys = (None, None)  # refracted or other variants we do not use
            columns.append(_FixedColumn(keys, ra_pair=True))
        elif re.search(r"_\(.*\)_", label):
            # Paired labels such as Azi_(a-app)_Elev hold two values.
            columns.append(_FixedColumn((None, None), ra_pair=False))
        else:
            columns.append(_FixedColumn((_CSV_COLUMNS.get(label),), ra_pair=False))
    return date_label, columns


def _parse_fixed(header: str, lines: list[str]) -> list[HorizonsRow]:
    date_label, columns = _fixed_columns(header)
    kind = _date_kind(date_label)
    date_tokens = 2 if kind == "calendar" else 1
    count_deg = sum(len(column.keys) for column in columns)
    count_hms = count_deg + 4 * sum(column.ra_pair for column in columns)
    rows: list[HorizonsRow] = []
    for line in lines:
        tokens = line.split()
        if len(tokens) < date_tokens:
            raise _error(f"row too short: {line.strip()!r}")
        date_text = " ".join(tokens[:date_tokens])
        at = parse_horizons_time(date_text) if kind == "calendar" else _from_julian_day(date_text)
        values = tokens[date_tokens:]
        # Skip the presence flags (*, C, N, A, m, ...); they may be absent altogether.
        while values and not (_NUMBER.match(values[0]) or values[0] == "n.a."):
            values = values[1:]
        if len(values) == count_hms and count_hms != count_deg:
            hms = True
        elif len(values) == count_deg:
            hms = False
        else:
            raise _error(f"row has {len(values)} values, header expects {count_deg}: {line!r}")
        row: HorizonsRow = {"at": at}
        position = 0
        for column in columns:
            per_key = 3 if hms and column.ra_pair else 1
            for key in column.keys:
                cell = " ".join(values[position : position + per_key])
                position += per_key
                if key is not None:
                    row[key] = _value(cell, key)  # type: ignore[literal-required]
        rows.append(row)
    return rows


_REQUIRED = ("ra_deg", "dec_deg", "delta_au", "ecl_lon_deg", "ecl_lat_deg")


def rows_to_records(
    rows: list[HorizonsRow], body: Body, *, provider: str = PROVIDER_NAME
) -> list[EphemerisRecord]:
    """Records for ``rows`` (quantities 1, 20 and 31), with the longitude rate derived.

    ``speed_deg_per_day`` is the central difference of ObsEcLon between the neighbouring
    rows, one-sided at the first and last row. One-sided differences are less accurate,
    so the Horizons provider asks for one grid step more on each side and drops those
    two rows: every record it returns then has a central-difference speed.
    """
    if len(rows) < 2:
        raise _error(f"need at least two rows to derive the longitude rate, got {len(rows)}")
    for earlier, later in pairwise(rows):
        if later["at"] <= earlier["at"]:
            raise _error(f"rows out of order at {later['at'].isoformat()}")
    values: list[tuple[float, ...]] = []
    for row in rows:
        picked = tuple(row.get(key) for key in _REQUIRED)
        missing = [key for key, value in zip(_REQUIRED, picked, strict=True) if value is None]
        if missing:
            raise _error(f"row at {row['at'].isoformat()} lacks {', '.join(missing)}")
        values.append(picked)  # type: ignore[arg-type]
    rates = longitude_rates([row["at"] for row in rows], [value[3] for value in values])
    return [
        EphemerisRecord(
            body=body.value,
            at=row["at"],
            ra_deg=ra,
            dec_deg=dec,
            distance_au=delta,
            ecliptic_lon_deg=lon,
            ecliptic_lat_deg=lat,
            speed_deg_per_day=rate,
            retrograde=rate < 0,
            provider=provider,
        )
        for row, (ra, dec, delta, lon, lat), rate in zip(rows, values, rates, strict=True)
    ]
