"""The time grid positions live on: snapping, ranges, aligned chunks, parsing instants and steps.

Every position is stored at a grid instant: a whole number of grid steps after
1970-01-01T00:00Z. Anchoring the grid at a fixed epoch (not at the first request)
means two callers asking around the same time land on the same instants and share
cache entries. All datetimes here are timezone-aware UTC.

``parse_instant`` and ``parse_step`` are the one reading of instants and steps for
every route and job: they refuse what is outside the supported range or too large
before any date arithmetic can overflow, and say which field was wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.coverage import SUPPORTED

__all__ = [
    "GRID_EPOCH",
    "MAX_STEP",
    "chunk_of",
    "grid_count",
    "grid_index",
    "grid_instant",
    "grid_range",
    "parse_instant",
    "parse_step",
    "read_step",
    "snap",
]

GRID_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Grid index 0; every grid instant is GRID_EPOCH plus a whole number of steps."""

MAX_STEP = timedelta(days=366)
"""The largest step a range or an export may ask for: a year, leap years included."""

_ONE_MICROSECOND = timedelta(microseconds=1)

_STEP_PATTERN = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$", re.IGNORECASE)
# More digits than this cannot be a step under MAX_STEP (and int() of thousands of
# digits is refused by Python itself): refuse before converting.
_STEP_MAX_DIGITS = 9
# A query value like "2026-01-01T00:00:00 01:00": the "+" of the offset was not
# URL-encoded, so the server received a space.
_UNENCODED_PLUS = re.compile(r"\d \d{2}(:?\d{2})?$")
# Long enough to recognise the value in an error message, short enough to read.
_SHOWN_CHARS = 64
_STEP_UNITS = {
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def _micros(delta: timedelta) -> int:
    return delta // _ONE_MICROSECOND


def _as_utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime is taken to be UTC already."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _check_step(step: timedelta) -> int:
    step_us = _micros(step)
    if step_us <= 0:
        raise ValueError(f"grid step must be positive, got {step}")
    return step_us


def grid_index(at: datetime, step: timedelta) -> int:
    """The index of the grid instant nearest to ``at``; a tie rounds up (later)."""
    step_us = _check_step(step)
    offset_us = _micros(_as_utc(at) - GRID_EPOCH)
    # floor((offset + step / 2) / step), in integers so odd microsecond steps stay exact.
    return (2 * offset_us + step_us) // (2 * step_us)


def grid_instant(index: int, step: timedelta) -> datetime:
    """The grid instant with the given index."""
    _check_step(step)
    return GRID_EPOCH + index * step


def snap(at: datetime, step: timedelta) -> datetime:
    """The grid instant nearest to ``at`` (grid anchored at 1970-01-01T00:00Z; ties round up)."""
    return grid_instant(grid_index(at, step), step)


def grid_count(start: datetime, stop: datetime, step: timedelta) -> int:
    """How many instants ``grid_range(start, stop, step)`` holds, without building them.

    Pure index arithmetic, so a range is priced in microseconds whatever its size.
    """
    return max(0, grid_index(stop, step) - grid_index(start, step) + 1)


def grid_range(start: datetime, stop: datetime, step: timedelta) -> list[datetime]:
    """Every grid instant from snapped ``start`` to snapped ``stop``, both included.

    Empty when ``stop`` snaps to an instant before ``start``'s. Callers bound the size
    first with ``grid_count``: this builds every instant.
    """
    first = grid_index(start, step)
    last = grid_index(stop, step)
    return [grid_instant(index, step) for index in range(first, last + 1)]


def chunk_of(at: datetime, step: timedelta, batch_steps: int) -> tuple[datetime, datetime]:
    """The aligned chunk ``(first, last)`` of ``batch_steps`` grid instants holding ``at``.

    ``at`` is snapped first; its chunk is ``floor(grid_index / batch_steps)``, so chunks
    never overlap and every caller computes the same boundaries.
    """
    if batch_steps < 1:
        raise ValueError(f"batch_steps must be at least 1, got {batch_steps}")
    chunk = grid_index(at, step) // batch_steps
    first = chunk * batch_steps
    return grid_instant(first, step), grid_instant(first + batch_steps - 1, step)


def parse_instant(text: str, *, field: str = "at", now: datetime | None = None) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset; naive means UTC) or ``now``, in UTC.

    ``now`` (the keyword) overrides the clock, for tests. Raises InvalidInputError
    naming ``field`` when the text is not an instant or lies outside the supported
    range (``coverage.SUPPORTED``).
    """
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return _as_utc(now) if now is not None else datetime.now(UTC)
    if not cleaned:
        raise InvalidInputError("an instant is required, e.g. 2026-11-23T00:00:00Z", field=field)
    try:
        # Python 3.11 reads "Z", offsets, dates alone and fractional seconds.
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        hint = (
            " (a '+' in a URL query must be sent as %2B; a plain '+' arrives as a space)"
            if _UNENCODED_PLUS.search(cleaned)
            else ""
        )
        raise InvalidInputError(
            f"cannot read {_shown(text)} as an instant; use ISO 8601 like "
            f"2026-11-23T00:00:00Z, or 'now'{hint}",
            field=field,
        ) from None
    try:
        at = _as_utc(parsed)
    except OverflowError:
        # Year 1 minus a positive offset, or year 9999 plus a negative one.
        at = None
    if at is None or at not in SUPPORTED:
        raise InvalidInputError(
            f"{_shown(text)} is outside the supported range, {SUPPORTED.describe()} (UTC)",
            field=field,
        )
    return at


def read_step(text: str, *, field: str = "step") -> timedelta:
    """A step such as ``1h``, ``30m``, ``90m`` or ``1d``, between a minute and ``MAX_STEP``.

    Raises InvalidInputError naming ``field`` when unreadable, zero or too large;
    ``parse_step`` also checks it against the grid.
    """
    match = _STEP_PATTERN.match(text)
    if match is None:
        raise InvalidInputError(
            f"cannot read step {_shown(text)}; use a whole number and a unit: m, h or d "
            "(e.g. 30m, 1h, 1d)",
            field=field,
        )
    digits, unit = match.group(1), _STEP_UNITS[match.group(2).lower()]
    step = int(digits) * unit if len(digits) <= _STEP_MAX_DIGITS else None
    if step is None or step > MAX_STEP:
        raise InvalidInputError(
            f"step {_shown(text.strip())} is too large; the largest step is {_describe(MAX_STEP)}",
            field=field,
        )
    if step <= timedelta(0):
        raise InvalidInputError("step must be greater than zero", field=field)
    return step


def parse_step(text: str, grid_step: timedelta, *, field: str = "step") -> timedelta:
    """``read_step``, and the step must be a whole multiple of ``grid_step``.

    Raises InvalidInputError naming ``field`` when unreadable, zero, too large or off
    the grid.
    """
    step = read_step(text, field=field)
    grid_step_us = _check_step(grid_step)
    if _micros(step) % grid_step_us:
        raise InvalidInputError(
            f"step {_shown(text.strip())} is not a whole multiple of the grid step "
            f"({_describe(grid_step)})",
            field=field,
        )
    return step


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut short when long."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + "..."


def _describe(step: timedelta) -> str:
    """A step in the same short units ``parse_step`` reads (``1h``, ``30m``, ``1d``)."""
    seconds = int(step.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{step.total_seconds():g}s"
