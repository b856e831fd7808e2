"""Days as numbers: the counts key every row by its day since 1970-01-01 (the log's local day)."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.date(1970, 1, 1)


def day_number(date: dt.date) -> int:
    """The day number of a calendar date."""
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    """The calendar date of a day number."""
    return EPOCH + dt.timedelta(days=int(day))


def iso(day: int) -> str:
    """A day number as YYYY-MM-DD."""
    return date_of(day).isoformat()


def today() -> int:
    return day_number(dt.date.today())
