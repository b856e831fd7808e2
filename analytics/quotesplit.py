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

from collections.abc import Callable, Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics import times
from analytics.distinct import plain
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
HEAD_LETTERS = [i for i, c in enumerate(HEAD) if c == "A" or c == "a"]
HEAD_SIGN = HEAD.index("+")
MAX_BYTES_DIGITS = 18  # body sizes up to an exabyte; a longer field takes the regex


def applies(fmt: LogFormat) -> bool:
    return fmt.spec == SPEC


def parse(
    lines: pa.Array,
    fmt: LogFormat,
    regex: Callable,
    fields: Collection[str] | None = None,
    raw: bytes | bytearray | None = None,
) -> tuple[np.ndarray, dict[str, pa.Array], tuple[np.ndarray, np.ndarray]]:
    """Which lines the format's regex matches, its fields for those lines, and their times (UTC
    seconds and zone offsets, as `times` has them); `regex(lines, fmt)` does the same for the
    lines that cannot be split. Only `fields` are copied out, if given (the time is read in
    place); `raw`, the lines' bytes if at hand, saves a copy of them."""
    offsets, data, buffer = _buffers(lines)
    starts, ends = offsets[:-1], offsets[1:]
    rows, quotes = _six_quotes(data, offsets, raw)
    fast = np.zeros(len(lines), bool)
    keep, head = _well_formed(data, starts[rows], quotes)
    rows, quotes, head = rows[keep], quotes[keep], head[keep]
    # dictionary-encoded (as the anonymiser wants it): a space is looked for once per address
    ip = pc.dictionary_encode(_fields(buffer, starts[rows], quotes[:, 0] + HEAD_START))
    in_distinct = pc.match_substring(ip.dictionary, " ").to_numpy(zero_copy_only=False)
    spaced = in_distinct[ip.indices.to_numpy(zero_copy_only=False)]
    if spaced.any():  # the regex reads that line's fields differently
        rows, quotes, ip = rows[~spaced], quotes[~spaced], ip.filter(pa.array(~spaced))
        head = head[~spaced]
    fast[rows] = True
    utc, offset = np.full(len(lines), np.nan), np.full(len(lines), np.nan)
    utc[rows], offset[rows] = times.from_text(head[:, TIME_IN_HEAD])
    q0, q1, q2, q3, q4, q5 = quotes.T
    line_end = ends[rows] - 1  # before the newline, and before a carriage return ahead of it
    line_end -= data[line_end - 1] == CR
    spans = {
        "time": (q0 + TIME_START, q0 + TIME_START + times.LENGTH),
        "request": (q0 + 1, q1),
        "status": (q1 + 2, q1 + 5),
        "bytes": (q1 + 6, q2 - 1),
        "referrer": (q2 + 1, q3),
        "ua": (q4 + 1, q5),
        "rest": (q5 + 1, line_end),
    }
    columns = {"ip": ip}
    for name, (start, end) in spans.items():
        if fields is None or name in fields:
            columns[name] = _fields(buffer, start, end)
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
    columns = {
        k: pa.concat_arrays([plain(v), slow_columns[k]]).take(order) for k, v in columns.items()
    }
    return ok, columns, (utc, offset)


def _buffers(lines: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Buffer]:
    """The lines' offsets (int64, one more than lines), their bytes as numpy, and the buffer."""
    _, offset_buffer, data_buffer = lines.buffers()
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(offset_buffer, width)[lines.offset : lines.offset + len(lines) + 1]
    return offsets.astype(np.int64), np.frombuffer(data_buffer, np.uint8), data_buffer


def _six_quotes(
    data: np.ndarray, offsets: np.ndarray, raw: bytes | bytearray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The lines with at least six quotes, none after a backslash and no carriage return (but
    before their newline), and the positions of their first six quotes (one row of six per
    line)."""
    first, last = int(offsets[0]), int(offsets[-1])
    text = data[first:last]
    quotes = np.flatnonzero(text == QUOTE)
    if first:
        quotes += first
    # each line's first quote, and (by the next line's) how many it has
    first_quote = np.searchsorted(quotes, offsets)
    candidate = np.diff(first_quote) >= 6
    if raw is None:
        raw = text.tobytes()  # a copy, then memchr: faster than comparing every byte in numpy
    # Rarely, and then only the lines concerned take the regex: a quote after a backslash (it
    # may be escaped, as Apache writes `\"`; nginx's `\x22` leaves the quotes alone, so its
    # escapes elsewhere in a line do not matter), a carriage return but in a CRLF line end.
    if raw.find(b"\\") >= 0:
        after = quotes[(quotes > first) & (data[np.maximum(quotes - 1, 0)] == BACKSLASH)]
        candidate[np.searchsorted(offsets, after, side="right") - 1] = False
    if raw.find(b"\r") >= 0:
        found = np.flatnonzero(text == CR) + first
        line = np.searchsorted(offsets, found, side="right") - 1
        candidate[line[found != offsets[line + 1] - 2]] = False
    rows = np.flatnonzero(candidate)
    # each line's six quotes as one record of an overlapping view (one copy per line)
    sixes = np.ndarray((max(len(quotes) - 5, 0),), (np.void, 48), buffer=quotes, strides=(8,))
    return rows, sixes[first_quote[rows]].view(np.int64).reshape(-1, 6)


def _well_formed(
    data: np.ndarray, starts: np.ndarray, quotes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether the bytes around each line's quotes are what the combined regex asks for, and
    the 34 bytes before the request (the time is among them)."""
    _, q1, q2, q3, q4, _ = quotes.T
    words = _words(data, quotes[:, 0] + HEAD_START, _HEAD_CHECK.masks.shape[-1])
    head = words.view(np.uint8)[:, :-HEAD_START]
    ok = quotes[:, 0] + HEAD_START >= starts  # else the bytes read are not its
    ok &= _HEAD_CHECK.passes(words)
    for letter in HEAD_LETTERS:
        ok &= (head[:, letter] | 0x20) - ord("a") <= 25  # uint8: below "a" wraps round
    sign = head[:, HEAD_SIGN]
    ok &= (sign == ord("+")) | (sign == ord("-"))
    # `" 200 1234 "` or `" 200 - "` between the request and the referrer
    status = _words(data, q1 + 1, 3)
    size = np.clip(q2 - q1 - 7, 0, MAX_BYTES_DIGITS)  # the length of `1234`
    ok &= (size == q2 - q1 - 7) & _STATUS_CHECK[size].passes(status)
    dash = status.view(np.uint8)[:, 5] == ord("-")
    ok &= (size > 1) | (size == 1) & (dash | _IS_DIGIT[status.view(np.uint8)[:, 5]])
    # `" "` between the referrer and the user agent
    ok &= (q4 == q3 + 2) & (data[q3 + 1] == SPACE)
    return ok, head


class _Check:
    """What a window of bytes must hold, 8 bytes at a time (uint64 words, little-endian): its
    literal bytes, and digits where its template has `0` (high nibble 3, low nibble at most 9:
    adding 6 to it does not carry into bit 4). Other characters of the template are not looked
    at. Several checks stacked (`stack`) are chosen per row by indexing."""

    def __init__(self, masks: np.ndarray) -> None:
        # (..., 5, words): the bits that must be set as in the next; the digits' low nibbles,
        # 6 for each, and the bit a carry would set
        self.masks = masks

    @classmethod
    def of(cls, template: str, words: int) -> _Check:
        padded = template.encode().ljust(8 * words, b"?")
        parts = [bytearray(len(padded)) for _ in range(5)]
        for i, c in enumerate(padded):
            if c == ord("0"):
                for part, byte in zip(parts, (0xF0, 0x30, 0x0F, 0x06, 0x10), strict=True):
                    part[i] = byte
            elif c in LITERALS:
                parts[0][i], parts[1][i] = 0xFF, c
        return cls(np.stack([np.frombuffer(bytes(p), "<u8").astype(np.uint64) for p in parts]))

    @classmethod
    def stack(cls, checks: list[_Check]) -> _Check:
        return cls(np.stack([check.masks for check in checks]))

    def __getitem__(self, rows: np.ndarray) -> _Check:
        return _Check(self.masks[rows])

    def passes(self, words: np.ndarray) -> np.ndarray:
        """Per row of `words` (n × the template's words): whether its bytes fit."""
        must, value, low, six, carry = (self.masks[..., i, :] for i in range(5))
        wrong = ((words & must) ^ value) | (((words & low) + six) & carry)
        # or-ed word by word: numpy reduces a short last axis a row at a time
        anywhere = wrong[:, 0].copy()
        for word in range(1, wrong.shape[1]):
            anywhere |= wrong[:, word]
        return anywhere == 0


LITERALS = b" -[/:]"
# The letters and the zone's sign are looked at apart.
_HEAD_CHECK = _Check.of(HEAD.replace("+", "?").replace("A", "?").replace("a", "?"), 5)
# ` 200 ` and a size of n digits and a space, 24 bytes from the space before the status, by n
# (n = 1: `-` or a digit, looked at apart)
_STATUS_CHECK = _Check.stack(
    [_Check.of(" 000 " + ("?" if n == 1 else "0" * n) + " ", 3) for n in range(19)]
)
_IS_DIGIT = np.array([chr(b).isdigit() and b < 128 for b in range(256)])


def _words(data: np.ndarray, starts: np.ndarray, words: int) -> np.ndarray:
    """data[s : s + 8 * words] for each s, as rows of little-endian uint64 words: gathered as
    one record per row from an overlapping view of the data (a copy per row, not per byte)."""
    width = 8 * words
    rows = np.empty((len(starts), words), "<u8")
    inside = (starts >= 0) & (starts <= len(data) - width)
    if inside.any():
        records = np.ndarray((len(data) - width + 1,), (np.void, width), buffer=data, strides=(1,))
        rows[inside] = records[starts[inside]].view("<u8").reshape(-1, words)
    near_end = ~inside  # at most the first and last lines of the data: byte by byte, clipped
    if near_end.any():
        at = np.clip(starts[near_end][:, None] + np.arange(width), 0, len(data) - 1)
        rows[near_end] = data[at].view("<u8")
    return rows


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
