"""The combined format parsed from the byte positions of its quotes, without a regex per line.

RE2 captures at about 300 MB/s and the referrer and user agent are most of a line. A line with
no backslash (so no escaped quote) and no carriage return (but in a CRLF line end) has its
fields between its first six quotes; numpy finds every quote of a block in one pass, checks the few bytes around them that
the whole-line regex would check (` - - [`, the time's digits, ` 200 1234 `, `" "`), and the
fields are copied out of the block by Arrow in one `take` each. The few other lines (escapes, a
user name, a quote in the wrong place, malformed ones) still go through the regex.
tests/analytics/test_analytics_quotesplit.py holds both to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics import times
from analytics.formats import NAMED, LogFormat

SPEC = NAMED["combined"]
QUOTE, BACKSLASH, CR, SPACE = (ord(c) for c in '"\\\r ')
# `$remote_addr - - [dd/Mon/yyyy:hh:mm:ss +zzzz] "`: the 34 bytes before the request's quote
# (nginx always writes `-` for the ident and, without HTTP authentication, for the user; other
# lines take the regex), as TIME_LOCAL of analytics.formats has them.
HEAD = " - - [00/Aaa/0000:00:00:00 +0000] "
HEAD_START = -len(HEAD)
TIME_START = HEAD.index("[") + 1 + HEAD_START  # from the request's quote
TIME_IN_HEAD = slice(TIME_START - HEAD_START, TIME_START - HEAD_START + times.LENGTH)
HEAD_DIGITS = [i for i, c in enumerate(HEAD) if c == "0"]
HEAD_LETTERS = [i for i, c in enumerate(HEAD) if c == "A" or c == "a"]
HEAD_SIGN = HEAD.index("+")
HEAD_LITERALS = [i for i, c in enumerate(HEAD) if c in " -[/:]" and i != HEAD_SIGN]
HEAD_VALUES = np.array([ord(HEAD[i]) for i in HEAD_LITERALS], np.uint8)
MAX_BYTES_DIGITS = 18  # body sizes up to an exabyte; a longer field takes the regex


def applies(fmt: LogFormat) -> bool:
    return fmt.spec == SPEC


def parse(
    lines: pa.Array, fmt: LogFormat, regex: Callable
) -> tuple[np.ndarray, dict[str, pa.Array], tuple[np.ndarray, np.ndarray]]:
    """Which lines the format's regex matches, its fields for those lines, and their times (UTC
    seconds and zone offsets, as `times` has them); `regex(lines, fmt)` does the same for the
    lines that cannot be split."""
    offsets, data, buffer = _buffers(lines)
    starts, ends = offsets[:-1], offsets[1:]
    rows, quotes = _six_quotes(data, offsets)
    fast = np.zeros(len(lines), bool)
    keep, head = _well_formed(data, starts[rows], ends[rows], quotes)
    rows, quotes, head = rows[keep], quotes[keep], head[keep]
    ip = _fields(buffer, starts[rows], quotes[:, 0] + HEAD_START)
    spaced = pc.match_substring(ip, " ").to_numpy(zero_copy_only=False)
    if spaced.any():  # the regex reads that line's fields differently
        rows, quotes, ip = rows[~spaced], quotes[~spaced], ip.filter(pa.array(~spaced))
        head = head[~spaced]
    fast[rows] = True
    utc, offset = np.full(len(lines), np.nan), np.full(len(lines), np.nan)
    utc[rows], offset[rows] = times.from_text(head[:, TIME_IN_HEAD])
    q0, q1, q2, q3, q4, q5 = quotes.T
    line_end = ends[rows] - 1  # before the newline, and before a carriage return ahead of it
    line_end -= data[line_end - 1] == CR
    columns = {
        "ip": ip,
        "time": _fields(buffer, q0 + TIME_START, q0 + TIME_START + times.LENGTH),
        "request": _fields(buffer, q0 + 1, q1),
        "status": _fields(buffer, q1 + 2, q1 + 5),
        "bytes": _fields(buffer, q1 + 6, q2 - 1),
        "referrer": _fields(buffer, q2 + 1, q3),
        "ua": _fields(buffer, q4 + 1, q5),
        "rest": _fields(buffer, q5 + 1, line_end),
    }
    if fast.all():
        return fast, columns, (utc, offset)
    slow = ~fast
    slow_ok, slow_columns = regex(lines.filter(pa.array(slow)), fmt)
    utc[slow], offset[slow] = times.from_column(slow_columns["time"])
    ok = fast.copy()
    ok[slow] = slow_ok
    # rows in line order: the split lines' values first, then the regex's
    order = np.empty(len(fast), np.int64)
    order[fast] = np.arange(fast.sum())
    order[slow] = fast.sum() + np.arange(slow.sum())
    order = pa.array(order)
    columns = {k: pa.concat_arrays([v, slow_columns[k]]).take(order) for k, v in columns.items()}
    return ok, columns, (utc, offset)


def _buffers(lines: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Buffer]:
    """The lines' offsets (int64, one more than lines), their bytes as numpy, and the buffer."""
    _, offset_buffer, data_buffer = lines.buffers()
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(offset_buffer, width)[lines.offset : lines.offset + len(lines) + 1]
    return offsets.astype(np.int64), np.frombuffer(data_buffer, np.uint8), data_buffer


def _six_quotes(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines with at least six quotes, no backslash and no carriage return (but before
    their newline), and the positions of their first six quotes (one row of six per line)."""
    first, last = int(offsets[0]), int(offsets[-1])
    text = data[first:last]
    quotes = np.flatnonzero(text == QUOTE) + first
    count = np.diff(np.searchsorted(quotes, offsets))
    candidate = count >= 6
    raw = text.tobytes()  # a copy, then memchr: faster than comparing every byte in numpy
    for odd in (BACKSLASH, CR):  # an escaped quote; a carriage return but in a CRLF line end
        if raw.find(odd.to_bytes(1, "big")) >= 0:  # rarely: the positions are looked for then
            found = np.flatnonzero(text == odd) + first
            line = np.searchsorted(offsets, found, side="right") - 1
            if odd == CR:
                line = line[found != offsets[line + 1] - 2]
            candidate[line] = False
    rows = np.flatnonzero(candidate)
    head = np.searchsorted(quotes, offsets[rows])
    return rows, quotes[head[:, None] + np.arange(6)]


def _well_formed(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, quotes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether the bytes around each line's quotes are what the combined regex asks for, and
    the 34 bytes before the request (the time is among them)."""
    long_enough = quotes[:, 0] + HEAD_START >= starts  # else the bytes read are not its
    ok = np.zeros(len(starts), bool)
    head = np.zeros((len(starts), -HEAD_START), np.uint8)
    head[long_enough] = _windows(data, quotes[long_enough, 0] + HEAD_START, -HEAD_START)
    ok[long_enough] = _bytes_around_quotes(data, quotes[long_enough], head[long_enough])
    return ok, head


def _bytes_around_quotes(data: np.ndarray, quotes: np.ndarray, head: np.ndarray) -> np.ndarray:
    """`head`: the 34 bytes before the request's quote, one row per line."""
    _, q1, q2, q3, q4, _ = quotes.T
    ok = (head[:, HEAD_LITERALS] == HEAD_VALUES).all(axis=1)
    ok &= (head[:, HEAD_DIGITS] - ord("0") <= 9).all(axis=1)  # uint8: below "0" wraps round
    ok &= ((head[:, HEAD_LETTERS] | 0x20) - ord("a") <= 25).all(axis=1)
    sign = head[:, HEAD_SIGN]
    ok &= (sign == ord("+")) | (sign == ord("-"))
    # `" 200 1234 "` or `" 200 - "` between the request and the referrer
    status = _windows(data, q1 + 1, 5 + MAX_BYTES_DIGITS)
    ok &= (status[:, [0, 4]] == SPACE).all(axis=1) & (status[:, 1:4] - ord("0") <= 9).all(axis=1)
    ok &= (data[q2 - 1] == SPACE) & _is_size(status[:, 5:], q2 - 1 - (q1 + 6))
    # `" "` between the referrer and the user agent
    ok &= (q4 == q3 + 2) & (data[q3 + 1] == SPACE)
    return ok


def _is_size(window: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Whether the first `length` bytes of each row of `window` are `-` or digits."""
    inside = np.arange(window.shape[1]) < length[:, None]
    digits = ((window - ord("0") <= 9) | ~inside).all(axis=1)
    dash = (length == 1) & (window[:, 0] == ord("-"))
    return ((length >= 1) & (length <= window.shape[1]) & digits) | dash


def _windows(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """data[s : s + width] for each s, as the rows of a uint8 array; read eight bytes at a time
    through an overlapping uint64 view of the data (a gather per eight bytes, not per byte)."""
    words = -(-width // 8)
    rows = np.empty((len(starts), words * 8), np.uint8)
    inside = starts <= len(data) - words * 8
    if inside.any():
        view = np.ndarray((len(data) - 7,), np.uint64, buffer=data, strides=(1,))
        gathered = view[starts[inside][:, None] + 8 * np.arange(words)]
        rows[inside] = gathered.view(np.uint8).reshape(-1, words * 8)
    near_end = ~inside  # at most the last lines of the data: byte by byte, clipped
    if near_end.any():
        at = np.minimum(starts[near_end][:, None] + np.arange(words * 8), len(data) - 1)
        rows[near_end] = data[at]
    return rows[:, :width]


def _fields(buffer: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The strings buffer[starts[i]:ends[i]] (in order, not overlapping), copied in one take:
    an array of fields and the gaps between them, of which every other item is kept."""
    n = len(starts)
    if n == 0:
        return pa.array([], pa.string())
    bounds = np.empty(2 * n, np.int32)
    bounds[0::2], bounds[1::2] = starts, ends
    spans = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(bounds), buffer)
    return spans.take(pa.array(np.arange(0, 2 * n - 1, 2)))
