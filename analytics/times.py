"""Times of log lines: nginx's `dd/Mon/yyyy:hh:mm:ss +zzzz` read as numbers, all rows at once.

numpy reads the 26 characters of each time straight from memory (a column's buffer, or a block's
bytes) and works out the UTC second and the zone's offset with calendar arithmetic: no string
parsing per line, and a date that does not exist (31 Feb, year 0) gives NaN, as datetime would.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

LENGTH = len("21/Oct/2026:10:00:00 +0200")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Each month's three letters as one number, sorted, and the month each stands for.
_MONTH_CODES = np.array(sorted(int.from_bytes(m.encode(), "big") for m in MONTH_NAMES))
_MONTH_ORDER = np.array(
    [MONTH_NAMES.index(c.to_bytes(3, "big").decode()) + 1 for c in _MONTH_CODES.tolist()]
)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def from_column(time: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTC seconds and zone offsets of a string column of times (the regex checked their
    digits), NaN where there is none or the date does not exist."""
    n = len(time)
    utc, offset = np.full(n, np.nan), np.full(n, np.nan)
    _, offset_buffer, data_buffer = time.buffers()
    if data_buffer is None:
        return utc, offset
    width = np.int64 if pa.types.is_large_string(time.type) else np.int32
    offsets = np.frombuffer(offset_buffer, width)[time.offset : time.offset + n + 1]
    rows = np.flatnonzero(
        np.asarray(time.is_valid().to_numpy(zero_copy_only=False), bool)
        & (np.diff(offsets) == LENGTH)
    )
    text = np.frombuffer(data_buffer, np.uint8)[offsets[rows][:, None] + np.arange(LENGTH)]
    utc[rows], offset[rows] = from_text(text)
    return utc, offset


def from_text(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC seconds and zone offsets of times given as rows of LENGTH bytes (uint8) whose digits
    are digits; NaN where the date does not exist."""

    def number(*at: int) -> np.ndarray:
        value = np.zeros(len(text), np.int64)
        for i in at:
            value = value * 10 + text[:, i].astype(np.int64) - ord("0")
        return value

    name = (text[:, 3].astype(np.int64) << 16) | (text[:, 4].astype(np.int64) << 8) | text[:, 5]
    month = np.searchsorted(_MONTH_CODES, name)
    known = _MONTH_CODES[np.minimum(month, 11)] == name
    month = _MONTH_ORDER[np.minimum(month, 11)]
    year, day = number(7, 8, 9, 10), number(0, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_month = np.where((month == 2) & leap, 29, _DAYS_IN_MONTH[month - 1])
    real = known & (year >= 1) & (day >= 1) & (day <= days_in_month)
    zone = (number(22, 23) * 3600 + number(24, 25) * 60) * np.where(text[:, 21] == ord("-"), -1, 1)
    local = _days_from_civil(year, month, day) * 86400
    local += number(12, 13) * 3600 + number(15, 16) * 60 + number(18, 19)
    return np.where(real, local - zone, np.nan), np.where(real, zone, np.nan)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
