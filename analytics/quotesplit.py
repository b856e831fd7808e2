"""The combined format parsed without running a regex over the referrer and user agent.

RE2 captures at about 300 MB/s and the referrer and user agent are most of a line. A line with
no backslash (so no escaped quote) splits at its first six quotes into exactly the pieces the
combined format puts between quotes; small regexes over the short pieces (the part before the
request, " status bytes ", the line's end) then decide and capture what the whole-line regex
would. The few other lines (escapes, a quote in the ident or user field, malformed ones) still
go through it. tests/analytics/test_analytics_quotesplit.py holds both to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics.formats import NAMED, TIME_LOCAL, LogFormat

SPEC = NAMED["combined"]
# The pieces between quotes: before the request, " status bytes ", " ", and the line's end.
BEFORE_REQUEST = rf"^(?P<ip>[^ ]*) [^ ]* [^ ]* \[(?P<time>{TIME_LOCAL})\] $"
STATUS_BYTES = r"^ [0-9]{3} (?:[0-9]+|-) $"
LINE_END = r"^[^\r\n]*\r?\n?$"


def applies(fmt: LogFormat) -> bool:
    return fmt.spec == SPEC


def parse(
    lines: pa.Array, fmt: LogFormat, regex: Callable
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Which lines the format's regex matches, and its fields for those lines; `regex(lines,
    fmt)` does the same for the lines that cannot be split."""
    pieces = pc.split_pattern(lines, '"', max_splits=6)
    list_offsets = pieces.offsets.to_numpy()
    candidate = np.diff(list_offsets) == 7
    candidate[_with_backslash(lines)] = False
    # piece k of every candidate line, taken straight from the pieces' values
    piece = [pieces.values.take(pa.array(list_offsets[:-1][candidate] + k)) for k in range(7)]
    del pieces  # a copy of the whole block: free it before the next one is read
    head = pc.extract_regex(piece[0], BEFORE_REQUEST)
    checks = pc.and_(
        pc.and_(head.is_valid(), pc.match_substring_regex(piece[2], STATUS_BYTES)),
        pc.and_(pc.equal(piece[4], " "), pc.match_substring_regex(piece[6], LINE_END)),
    )
    fast = candidate.copy()
    fast[candidate] = _array(checks)
    columns = dict(zip([f.name for f in head.type], head.flatten(), strict=True))
    columns |= {
        "request": piece[1],
        "status": pc.utf8_slice_codeunits(piece[2], 1, 4),
        "bytes": pc.utf8_slice_codeunits(piece[2], 5, -1),
        "referrer": piece[3],
        "ua": piece[5],
        "rest": pc.utf8_rtrim(piece[6], "\r\n"),
    }
    if fast.all():
        return fast, columns
    if not _array(checks).all():
        columns = {k: v.filter(checks) for k, v in columns.items()}
    slow = ~fast
    slow_ok, slow_columns = regex(lines.filter(pa.array(slow)), fmt)
    ok = fast.copy()
    ok[slow] = slow_ok
    # rows in line order: the split lines' values first, then the regex's
    order = np.empty(len(fast), np.int64)
    order[fast] = np.arange(fast.sum())
    order[slow] = fast.sum() + np.arange(slow.sum())
    order = pa.array(order)
    return ok, {k: pa.concat_arrays([v, slow_columns[k]]).take(order) for k, v in columns.items()}


def _with_backslash(lines: pa.Array) -> np.ndarray:
    """Indexes of the lines holding a backslash (an escaped quote may split wrongly)."""
    _, offset_buffer, data_buffer = lines.buffers()
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(offset_buffer, width)[lines.offset : lines.offset + len(lines) + 1]
    data = np.frombuffer(data_buffer, np.uint8)
    found = np.flatnonzero(data[offsets[0] : offsets[-1]] == ord("\\")) + offsets[0]
    return np.unique(np.searchsorted(offsets, found, side="right") - 1)


def _array(mask) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), bool)
