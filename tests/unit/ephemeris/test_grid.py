"""Tests for the time grid: snapping, ranges, aligned chunks, and parsing instants and steps."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.grid import (
    GRID_EPOCH,
    MAX_STEP,
    chunk_of,
    grid_count,
    grid_index,
    grid_range,
    parse_instant,
    parse_step,
    snap,
)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 11, 23, 5, 0), utc(2026, 11, 23, 5, 0)),
        (utc(2026, 11, 23, 5, 29, 59), utc(2026, 11, 23, 5, 0)),
        (utc(2026, 11, 23, 5, 30), utc(2026, 11, 23, 6, 0)),  # a tie rounds up
        (utc(2026, 11, 23, 5, 30, 0, 1), utc(2026, 11, 23, 6, 0)),
        (utc(2026, 11, 23, 23, 45), utc(2026, 11, 24, 0, 0)),
        (utc(1969, 12, 31, 23, 30), utc(1970, 1, 1, 0, 0)),  # before the epoch, ties still up
        (utc(1969, 12, 31, 23, 29), utc(1969, 12, 31, 23, 0)),
    ],
)
def test_snap_rounds_to_the_nearest_hour(at: datetime, expected: datetime) -> None:
    assert snap(at, HOUR) == expected


def test_snap_grid_is_anchored_at_the_epoch_not_at_midnight() -> None:
    step = timedelta(minutes=70)
    # 1970-01-01T00:00 + 70 min * k: 2026-11-23 midnight is not a multiple of 70 minutes.
    snapped = snap(utc(2026, 11, 23), step)
    assert (snapped - GRID_EPOCH) % step == timedelta(0)
    assert abs(snapped - utc(2026, 11, 23)) <= step / 2


def test_snap_with_a_90_minute_step() -> None:
    step = timedelta(minutes=90)
    assert snap(utc(2026, 11, 23, 0, 44), step) == utc(2026, 11, 23, 0, 0)
    assert snap(utc(2026, 11, 23, 0, 45), step) == utc(2026, 11, 23, 1, 30)


def test_snap_converts_offsets_and_reads_naive_as_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert snap(datetime(2026, 11, 23, 6, 10, tzinfo=paris), HOUR) == utc(2026, 11, 23, 5, 0)
    assert snap(datetime(2026, 11, 23, 6, 10), HOUR) == utc(2026, 11, 23, 6, 0)
    assert snap(datetime(2026, 11, 23, 6, 10), HOUR).tzinfo is UTC


def test_grid_index_counts_steps_from_the_epoch() -> None:
    assert grid_index(GRID_EPOCH, HOUR) == 0
    assert grid_index(utc(1970, 1, 2), HOUR) == 24
    assert grid_index(utc(1969, 12, 31, 23), HOUR) == -1


def test_grid_range_is_inclusive_and_snapped() -> None:
    instants = grid_range(utc(2026, 11, 23, 0, 10), utc(2026, 11, 23, 2, 40), HOUR)
    assert instants == [utc(2026, 11, 23, h) for h in (0, 1, 2, 3)]


def test_grid_range_of_a_single_instant() -> None:
    assert grid_range(utc(2026, 1, 1), utc(2026, 1, 1), HOUR) == [utc(2026, 1, 1)]


def test_grid_range_reversed_is_empty() -> None:
    assert grid_range(utc(2026, 1, 2), utc(2026, 1, 1), HOUR) == []


def test_grid_range_of_a_day_hourly_has_25_instants() -> None:
    assert len(grid_range(utc(2026, 1, 1), utc(2026, 1, 2), HOUR)) == 25


def test_non_positive_step_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        snap(utc(2026, 1, 1), timedelta(0))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 11, 23, 0, 0), (utc(2026, 11, 23, 0), utc(2026, 11, 23, 23))),
        (utc(2026, 11, 23, 13, 5), (utc(2026, 11, 23, 0), utc(2026, 11, 23, 23))),
        (utc(2026, 11, 23, 23, 29), (utc(2026, 11, 23, 0), utc(2026, 11, 23, 23))),
        # 23:30 snaps to the next midnight, which opens the next chunk.
        (utc(2026, 11, 23, 23, 30), (utc(2026, 11, 24, 0), utc(2026, 11, 24, 23))),
        (utc(1969, 12, 31, 5), (utc(1969, 12, 31, 0), utc(1969, 12, 31, 23))),
    ],
)
def test_chunk_of_gives_the_aligned_day(at: datetime, expected: tuple[datetime, datetime]) -> None:
    assert chunk_of(at, HOUR, 24) == expected


def test_chunks_tile_the_grid_without_overlap() -> None:
    seen: set[tuple[datetime, datetime]] = set()
    for hour in range(0, 24 * 5):
        first, last = chunk_of(utc(2026, 3, 1) + hour * HOUR, HOUR, 48)
        assert last - first == 47 * HOUR
        assert grid_index(first, HOUR) % 48 == 0
        seen.add((first, last))
    ordered = sorted(seen)
    for (_, last), (next_first, _) in pairwise(ordered):
        assert next_first == last + HOUR


def test_chunk_of_a_single_step_is_the_instant_itself() -> None:
    assert chunk_of(utc(2026, 1, 1, 7, 10), HOUR, 1) == (utc(2026, 1, 1, 7), utc(2026, 1, 1, 7))


def test_chunk_of_rejects_empty_batches() -> None:
    with pytest.raises(ValueError, match="batch_steps"):
        chunk_of(utc(2026, 1, 1), HOUR, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T00:00:00Z", utc(2026, 11, 23)),
        ("2026-11-23T01:30:00+01:00", utc(2026, 11, 23, 0, 30)),
        ("2026-11-23T00:00:00-05:00", utc(2026, 11, 23, 5)),
        ("2026-11-23T00:00:00", utc(2026, 11, 23)),
        ("2026-11-23 06:15", utc(2026, 11, 23, 6, 15)),
        ("2026-11-23", utc(2026, 11, 23)),
        ("  2026-11-23T00:00:00.250Z ", utc(2026, 11, 23, 0, 0, 0, 250000)),
    ],
)
def test_parse_instant_reads_iso_8601_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_instant_now_uses_the_clock() -> None:
    before = datetime.now(UTC)
    parsed = parse_instant("now")
    assert before <= parsed <= datetime.now(UTC)
    assert parsed.tzinfo is UTC


def test_parse_instant_now_can_be_pinned() -> None:
    pinned = utc(2030, 5, 5, 5, 5)
    assert parse_instant(" NOW ", now=pinned) == pinned


@pytest.mark.parametrize(
    "text", ["", "   ", "yesterday", "2026-13-01", "23/11/2026", "2026-11-23T25:00"]
)
def test_parse_instant_rejects_garbage_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text)
    assert caught.value.field == "at"
    assert "ISO 8601" in caught.value.detail or "required" in caught.value.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", HOUR),
        ("30m", 30 * MINUTE),
        ("1d", timedelta(days=1)),
        ("90m", 90 * MINUTE),
        ("2h", 2 * HOUR),
        ("2H", 2 * HOUR),
        (" 45 min ", 45 * MINUTE),
    ],
)
def test_parse_step_reads_minutes_hours_and_days(text: str, expected: timedelta) -> None:
    assert parse_step(text, 15 * MINUTE) == expected


def test_parse_step_must_be_a_multiple_of_the_grid_step() -> None:
    assert parse_step("2h", HOUR) == 2 * HOUR
    with pytest.raises(InvalidInputError) as caught:
        parse_step("90m", HOUR)
    assert caught.value.field == "step"
    assert "multiple" in caught.value.detail
    assert "1h" in caught.value.detail


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "1.5h", "-1h", "1 hour", "PT1H"])
def test_parse_step_rejects_unreadable_steps(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_step(text, MINUTE)
    assert caught.value.field == "step"


def test_parse_step_rejects_zero() -> None:
    with pytest.raises(InvalidInputError, match="greater than zero"):
        parse_step("0h", MINUTE)


def test_parse_step_rejects_absurdly_large_steps() -> None:
    with pytest.raises(InvalidInputError, match="too large"):
        parse_step("99999999999999d", MINUTE)


@given(
    start=st.datetimes(datetime(1600, 1, 1), datetime(2500, 1, 1), timezones=st.just(UTC)),
    span_minutes=st.integers(-3000, 3000),
    step_minutes=st.sampled_from([1, 7, 30, 60, 90, 1440]),
)
def test_grid_count_is_the_length_of_grid_range(
    start: datetime, span_minutes: int, step_minutes: int
) -> None:
    stop, step = start + span_minutes * MINUTE, step_minutes * MINUTE
    assert grid_count(start, stop, step) == len(grid_range(start, stop, step))


def test_grid_count_prices_any_range_without_building_it() -> None:
    tracemalloc.start()
    try:
        count = grid_count(utc(1600, 1, 1), utc(2500, 12, 31), MINUTE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == (utc(2500, 12, 31) - utc(1600, 1, 1)) // MINUTE + 1
    assert peak < 16 * 1024


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:00:00Z",
        "0001-01-01T00:00:00+01:00",  # UTC would be in year 0
        "9999-12-31T23:59:59-14:00",  # UTC would be in year 10000
        "1599-12-31T23:59:59Z",
        "2501-01-01T00:00:00Z",
    ],
)
def test_parse_instant_refuses_instants_outside_the_supported_range(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text, field="start")
    assert caught.value.field == "start"
    assert "1600-01-01 to 2500-12-31" in caught.value.detail


def test_parse_instant_accepts_both_ends_of_the_supported_range() -> None:
    assert parse_instant("1600-01-01T00:00:00Z") == utc(1600, 1, 1)
    assert parse_instant("2500-12-31T00:00:00Z") == utc(2500, 12, 31)


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00 01:00", "2026-01-01 10:00 0530"])
def test_parse_instant_hints_at_a_plus_that_was_not_url_encoded(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text)
    assert "%2B" in caught.value.detail


def test_parse_instant_shortens_long_input_in_its_message() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant("x" * 10_000, field="stop")
    assert caught.value.field == "stop"
    assert len(caught.value.detail) < 300


@pytest.mark.parametrize(
    "text", ["1000000d", "367d", "99999999999d", "999999999999999999999h", "9" * 5000 + "m"]
)
def test_parse_step_refuses_steps_past_a_year(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_step(text, MINUTE, field="params.step")
    assert caught.value.field == "params.step"
    assert "366d" in caught.value.detail


def test_the_largest_step_is_a_year_with_its_leap_day() -> None:
    assert parse_step("366d", HOUR) == MAX_STEP == timedelta(days=366)
