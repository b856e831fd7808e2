"""Opening hours as data: per weekday time ranges or "by appointment", plus closed days.

`shop.toml` holds them once; the footer and contact text (Dutch and English) and schema.org's
`openingHoursSpecification` are generated from them here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
APPOINTMENT = "by appointment"
CLOSED = "closed"
DAY_NAMES = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTH_NAMES = {
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
WORDS = {
    "nl": {"through": "t/m", "appointment": "op afspraak", "and": "en", "closed": "gesloten"},
    "en": {"through": "to", "appointment": "by appointment", "and": "and", "closed": "closed"},
}
TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")
DAY_FORMAT = (
    f'time ranges like "9:00-17:30" or "9:00-12:30, 13:00-17:00", "{APPOINTMENT}" or "{CLOSED}"'
)


class HoursError(ValueError):
    """A wrong opening-hours value; the message says what is expected."""


@dataclass(frozen=True)
class ClosedPeriod:
    """Closed from `first` through `last` (one day when they are equal)."""

    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (Monday first): a tuple of (opens, closes) times, APPOINTMENT, or () for closed."""

    days: tuple[tuple[tuple[dt.time, dt.time], ...] | str, ...]
    closed: tuple[ClosedPeriod, ...] = ()

    def weekly_text(self, lang: str) -> str:
        """'maandag t/m vrijdag 9:00–17:30, zaterdag op afspraak'; closed days are left out."""
        words = WORDS[lang]
        parts = []
        for first, last, value in _runs(self.days):
            if value == ():
                continue
            names = DAY_NAMES[lang]
            if first == last:
                days = names[first]
            else:
                joint = words["and"] if first + 1 == last else words["through"]
                days = f"{names[first]} {joint} {names[last]}"
            hours = words["appointment"] if value == APPOINTMENT else _ranges_text(value, lang)
            parts.append(f"{days} {hours}")
        return ", ".join(parts) or words["appointment"]

    def upcoming_closed(self, today: dt.date | None = None) -> tuple[ClosedPeriod, ...]:
        """Closed periods that have not ended before `today`, in date order."""
        today = today or dt.date.today()
        return tuple(p for p in sorted(self.closed, key=lambda p: p.first) if p.last >= today)

    def closed_text(self, lang: str, today: dt.date | None = None) -> str:
        """'25 december 2026, 1 januari 2027' ('' when no closed days lie ahead)."""
        return ", ".join(_period_text(p, lang) for p in self.upcoming_closed(today))

    def schema_org(self, today: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
        """`openingHoursSpecification` (and `specialOpeningHoursSpecification` for closed days).

        Days by appointment are left out: the shop is not open to walk in then.
        """
        regular = []
        by_hours: dict[tuple, list[str]] = {}
        for index, value in enumerate(self.days):
            if isinstance(value, tuple):
                for opens, closes in value:
                    by_hours.setdefault((opens, closes), []).append(DAY_NAMES["en"][index])
        for (opens, closes), days in by_hours.items():
            regular.append(
                {
                    "@type": "OpeningHoursSpecification",
                    "dayOfWeek": days,
                    "opens": opens.strftime("%H:%M"),
                    "closes": closes.strftime("%H:%M"),
                }
            )
        # Google's way to say "closed all day": opens and closes both 00:00.
        special = [
            {
                "@type": "OpeningHoursSpecification",
                "opens": "00:00",
                "closes": "00:00",
                "validFrom": p.first.isoformat(),
                "validThrough": p.last.isoformat(),
            }
            for p in self.upcoming_closed(today)
        ]
        result = {"openingHoursSpecification": regular}
        if special:
            result["specialOpeningHoursSpecification"] = special
        return result


def parse(raw: Any) -> OpeningHours:
    """Build OpeningHours from the `[business.opening_hours]` table; HoursError names the key."""
    if not isinstance(raw, dict):
        raise HoursError(f": must be a table of weekdays, got {raw!r}")
    unknown = set(raw) - set(WEEKDAYS) - {"closed_on"}
    if unknown:
        raise HoursError(
            f".{sorted(unknown)[0]}: unknown key (use {', '.join(WEEKDAYS)} or closed_on)"
        )
    days = tuple(_parse_day(day, raw.get(day, CLOSED)) for day in WEEKDAYS)
    closed = _parse_closed(raw.get("closed_on", []))
    return OpeningHours(days=days, closed=closed)


def _parse_day(day: str, value: Any):
    if not isinstance(value, str):
        raise HoursError(f".{day}: must be {DAY_FORMAT}, got {value!r}")
    text = value.strip().lower()
    if text == APPOINTMENT:
        return APPOINTMENT
    if text == CLOSED:
        return ()
    ranges = []
    for part in text.split(","):
        match = TIME_RANGE.match(part)
        if not match:
            raise HoursError(f".{day}: must be {DAY_FORMAT}, got {value!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            opens, closes = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError:
            raise HoursError(f".{day}: {part.strip()!r} is not a time of day") from None
        if closes <= opens or (ranges and opens <= ranges[-1][1]):
            raise HoursError(
                f".{day}: ranges must close after they open and follow each other, got {value!r}"
            )
        ranges.append((opens, closes))
    return tuple(ranges)


def _parse_closed(value: Any) -> tuple[ClosedPeriod, ...]:
    expected = "a list of dates (2026-12-25) or [first, last] date pairs"
    if not isinstance(value, list):
        raise HoursError(f".closed_on: must be {expected}, got {value!r}")
    periods = []
    for item in value:
        pair = item if isinstance(item, list) else [item, item]
        if len(pair) != 2 or not all(
            isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in pair
        ):
            raise HoursError(f".closed_on: must be {expected}, got {item!r}")
        if pair[1] < pair[0]:
            raise HoursError(f".closed_on: {pair[0]} to {pair[1]} ends before it starts")
        periods.append(ClosedPeriod(pair[0], pair[1]))
    return tuple(periods)


def _runs(days):
    """(first index, last index, value) for each run of consecutive days with the same hours."""
    runs: list[list] = []
    for index, value in enumerate(days):
        if runs and runs[-1][2] == value:
            runs[-1][1] = index
        else:
            runs.append([index, index, value])
    return [tuple(run) for run in runs]


def _ranges_text(ranges, lang: str) -> str:
    return f" {WORDS[lang]['and']} ".join(
        f"{_time_text(opens)}–{_time_text(closes)}" for opens, closes in ranges
    )


def _time_text(time: dt.time) -> str:
    return f"{time.hour}:{time.minute:02d}"


def date_text(day: dt.date, lang: str, with_year: bool = True) -> str:
    """'25 december 2026' in Dutch, '25 December 2026' in English (no system locale needed)."""
    month = MONTH_NAMES[lang][day.month - 1]
    return f"{day.day} {month} {day.year}" if with_year else f"{day.day} {month}"


def _period_text(period: ClosedPeriod, lang: str) -> str:
    if period.first == period.last:
        return date_text(period.first, lang)
    same_year = period.first.year == period.last.year
    return (
        f"{date_text(period.first, lang, with_year=not same_year)} "
        f"{WORDS[lang]['through']} {date_text(period.last, lang)}"
    )
