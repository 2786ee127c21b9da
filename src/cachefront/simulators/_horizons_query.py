"""Reading Horizons API queries the way the real service does: parameters, dates, steps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cachefront.services.ephemeris.bodies import Body, body_for_horizons_id

# The real service refuses tables longer than this many lines.
MAX_ROWS = 90024
SUPPORTED_QUANTITIES = frozenset({"1", "20", "31"})
BAD_DATE = 'Cannot interpret date. Type "?!" for help.'

_KNOWN_PARAMETERS = frozenset(
    {
        "format",
        "COMMAND",
        "OBJ_DATA",
        "MAKE_EPHEM",
        "EPHEM_TYPE",
        "TABLE_TYPE",
        "CENTER",
        "START_TIME",
        "STOP_TIME",
        "STEP_SIZE",
        "QUANTITIES",
        "ANG_FORMAT",
        "CSV_FORMAT",
        "EXTRA_PREC",
        "APPARENT",
        "REF_SYSTEM",
        "CAL_FORMAT",
        "TIME_DIGITS",
    }
)
_GEOCENTRE = frozenset({"500@399", "500", "@399", "GEO", "GEOCENTRIC"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(_MONTHS, start=1)}
_DATE = re.compile(
    r"^(\d{4})-(\d{1,2}|[A-Za-z]{3})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
)
_STEP = re.compile(r"^(\d+)\s*([A-Za-z]*)$")
_STEP_UNITS = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    **dict.fromkeys(("d", "day", "days"), timedelta(days=1)),
}


class _Refusal(Exception):
    """A Horizons-level refusal: answered with HTTP 200 and an error message."""


class _NoMatch(Exception):
    """COMMAND names no body: answered, like Horizons, with a search report and no table."""


@dataclass(frozen=True)
class _Query:
    body: Body
    start: datetime
    stop: datetime
    step: timedelta
    quantities: tuple[str, ...]
    csv: bool
    degrees: bool
    extra_precision: bool


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value


def _parse_date(text: str) -> datetime:
    match = _DATE.match(text)
    if match is None:
        raise _Refusal(BAD_DATE)
    year, month_text, day, hour, minute, second = match.groups()
    month = int(month_text) if month_text.isdigit() else _MONTH_NUMBERS.get(month_text.lower())
    try:
        return datetime(
            int(year),
            month or 0,
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        raise _Refusal(BAD_DATE) from None


def _parse_step(text: str) -> timedelta:
    match = _STEP.match(text)
    unit = _STEP_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise _Refusal(f'Cannot interpret step-size {text!r}. Type "?!" for help.')
    return int(match.group(1)) * unit


def _flag(params: dict[str, str], name: str, default: str) -> bool:
    value = params.get(name, default).upper()
    if value not in {"YES", "NO"}:
        raise _Refusal(f"{name} must be YES or NO, got {value!r}")
    return value == "YES"


def _parse_query(params: dict[str, str]) -> _Query:
    """The table asked for; raises _Refusal or _NoMatch the way Horizons would answer."""
    command = params.get("COMMAND")
    if not command:
        raise _Refusal('No COMMAND specified. Type "?!" for help.')
    body = body_for_horizons_id(command)
    if body is None:
        raise _NoMatch(command)
    if not _flag(params, "MAKE_EPHEM", "YES"):
        raise _Refusal("simulator: only MAKE_EPHEM='YES' is served")
    ephem_type = params.get("EPHEM_TYPE", params.get("TABLE_TYPE", "OBSERVER")).upper()
    if ephem_type not in {"OBSERVER", "OBS"}:
        raise _Refusal(f"simulator: only EPHEM_TYPE='OBSERVER' is served, got {ephem_type!r}")
    if params.get("CENTER", "500@399").upper() not in _GEOCENTRE:
        raise _Refusal("simulator: only the geocentre (CENTER='500@399') is served")
    if "START_TIME" not in params or "STOP_TIME" not in params:
        raise _Refusal(BAD_DATE)
    start = _parse_date(params["START_TIME"])
    stop = _parse_date(params["STOP_TIME"])
    step = _parse_step(params.get("STEP_SIZE", "60 m"))
    if stop < start:
        raise _Refusal('STOP_TIME precedes START_TIME. Type "?!" for help.')
    count = (stop - start) // step + 1
    if count > MAX_ROWS:
        raise _Refusal(
            f"Projected output length (~{count}) exceeds {MAX_ROWS} line max -- change step-size"
        )
    quantities = tuple(
        q.strip() for q in params.get("QUANTITIES", "1,20,31").split(",") if q.strip()
    )
    unsupported = [q for q in quantities if q not in SUPPORTED_QUANTITIES]
    if unsupported or not quantities:
        raise _Refusal(f"simulator: QUANTITIES {','.join(unsupported)} not served (only 1,20,31)")
    ang_format = params.get("ANG_FORMAT", "HMS").upper()
    if ang_format not in {"HMS", "DEG"}:
        raise _Refusal(f"ANG_FORMAT must be HMS or DEG, got {ang_format!r}")
    return _Query(
        body=body,
        start=start,
        stop=stop,
        step=step,
        quantities=tuple(sorted(set(quantities), key=int)),
        csv=_flag(params, "CSV_FORMAT", "NO"),
        degrees=ang_format == "DEG",
        extra_precision=_flag(params, "EXTRA_PREC", "NO"),
    )


# --- rendering ------------------------------------------------------------------------
