"""Calendar arithmetic of the history tables: period starts, retention cut-offs, missing ranges.

Pure functions, so the rules are tested without a database and read in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

__all__ = [
    "daily_cutoff",
    "missing_ranges",
    "month_start",
    "next_month",
    "week_start",
    "weekly_cutoff",
]


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the month after the one ``month`` starts."""
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def daily_cutoff(today: date, keep_days: int) -> date:
    """Daily rows before this day may be dropped: ``keep_days`` back, then to a period start.

    Moved back to the start of the week and of the month that day falls in, so
    retention only ever drops whole weeks and whole months: a period's daily rows are
    then all there or all gone, and its rollup is recomputed from them or sealed.
    """
    day = today - timedelta(days=keep_days)
    return min(week_start(day), month_start(day))


def weekly_cutoff(today: date, keep_days: int) -> date:
    """Weekly rows of weeks starting before this day may be dropped."""
    return week_start(today - timedelta(days=keep_days))


def missing_ranges(
    coverage: Sequence[tuple[date, date, date]], start: date, end: date
) -> list[tuple[date, date]]:
    """The ``[from, to)`` ranges of ``[start, end)`` a backfill still has to fetch.

    ``coverage`` is ``(month, first day, last day)`` of each stored month, in order.
    Before the first stored day and after the last one is missing; between them, a
    month with a row is whole (a gap inside it is a holiday or a weekend, not a hole),
    a month without one is missing.
    """
    if start >= end:
        return []
    if not coverage:
        return [(start, end)]
    first = min(row[1] for row in coverage)
    last = max(row[2] for row in coverage)
    months = {row[0] for row in coverage}
    gaps: list[tuple[date, date]] = []
    if start < first:
        gaps.append((start, min(first, end)))
    month = month_start(first)
    while month <= last:
        following = next_month(month)
        if month not in months:
            low, high = max(month, start), min(following, end)
            if low < high:
                gaps.append((low, high))
        month = following
    after = last + timedelta(days=1)
    if after < end:
        gaps.append((max(after, start), end))
    merged: list[tuple[date, date]] = []
    for low, high in sorted(gaps):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged
