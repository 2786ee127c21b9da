"""Bar boundaries for the simulators: hours, days, ISO weeks and calendar months in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

__all__ = ["align", "days_of", "following", "opens_between"]

# Steps are "hour", "day", "week" (ISO, from Monday) and "month".


def align(moment: datetime, step: str) -> datetime:
    """The start of the bar of ``step`` holding ``moment``."""
    moment = moment.astimezone(UTC)
    if step == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if step == "day":
        return day
    if step == "week":
        return day - timedelta(days=day.weekday())
    if step == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown step {step!r}")


def following(start: datetime, step: str) -> datetime:
    """The start of the bar after the one starting at ``start``."""
    if step == "hour":
        return start + timedelta(hours=1)
    if step == "day":
        return start + timedelta(days=1)
    if step == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def opens_between(first: datetime, last: datetime, step: str) -> Iterator[datetime]:
    """Bar starts from the bar holding ``first`` (or the next, if it starts earlier)
    to ``last``, both included."""
    start = align(first, step)
    if start < first:
        start = following(start, step)
    while start <= last:
        yield start
        start = following(start, step)


def days_of(start: datetime, step: str) -> list[date]:
    """The calendar days a daily-or-longer bar covers."""
    end = following(start, step)
    days = []
    day = start.date()
    while day < end.date():
        days.append(day)
        day += timedelta(days=1)
    return days
