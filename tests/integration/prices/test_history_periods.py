"""The calendar rules of the history tables: period starts, retention cut-offs, missing ranges.

Pure functions, no database; kept beside the store's tests they explain.
"""

from __future__ import annotations

from datetime import date

from cachefront.services.prices.history_periods import (
    daily_cutoff,
    missing_ranges,
    month_start,
    next_month,
    week_start,
    weekly_cutoff,
)


def test_periods_start_on_monday_and_on_the_first() -> None:
    assert week_start(date(2026, 12, 1)) == date(2026, 11, 30)
    assert week_start(date(2026, 11, 30)) == date(2026, 11, 30)
    # ISO week 1 of 2027 starts in 2026.
    assert week_start(date(2027, 1, 3)) == date(2026, 12, 28)
    assert month_start(date(2024, 2, 29)) == date(2024, 2, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 1)) == date(2026, 2, 1)


def test_the_daily_cutoff_falls_back_to_a_whole_week_and_month() -> None:
    # 365 days before 2026-12-01 is 2025-12-01, a Monday and a 1st: no move.
    assert daily_cutoff(date(2026, 12, 1), 365) == date(2025, 12, 1)
    # 2025-12-10 is a Wednesday: back to the 1st, before its Monday the 8th.
    assert daily_cutoff(date(2026, 12, 10), 365) == date(2025, 12, 1)
    # 2026-03-01 is a Sunday: its week began on 2026-02-23, before the 1st.
    assert daily_cutoff(date(2027, 3, 1), 365) == date(2026, 2, 23)
    # A week back is Tuesday 2026-11-24: its week began on Monday the 23rd.
    assert weekly_cutoff(date(2026, 12, 1), 7) == date(2026, 11, 23)


def test_missing_ranges_of_nothing_stored_is_everything() -> None:
    assert missing_ranges([], date(2020, 1, 1), date(2021, 1, 1)) == [
        (date(2020, 1, 1), date(2021, 1, 1))
    ]
    assert missing_ranges([], date(2021, 1, 1), date(2021, 1, 1)) == []


def test_missing_ranges_skip_weekend_gaps_and_find_missing_months() -> None:
    coverage = [
        (date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 31)),
        (date(2020, 2, 1), date(2020, 2, 3), date(2020, 2, 28)),
        (date(2020, 5, 1), date(2020, 5, 1), date(2020, 5, 15)),
    ]
    assert missing_ranges(coverage, date(2019, 12, 15), date(2020, 6, 1)) == [
        (date(2019, 12, 15), date(2020, 1, 2)),
        (date(2020, 3, 1), date(2020, 5, 1)),
        (date(2020, 5, 16), date(2020, 6, 1)),
    ]
    # Asked only inside what is stored: nothing to fetch.
    assert missing_ranges(coverage, date(2020, 1, 10), date(2020, 2, 20)) == []
