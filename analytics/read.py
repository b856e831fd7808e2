"""Read access logs (files, globs, .gz, stdin) in large blocks and parse each block with one regex.

A block becomes an Arrow string array without a Python object per line, and pyarrow's RE2
`extract_regex` parses it in one call; lines the regex rejects are counted as malformed.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import sys
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics import quotesplit, times
from analytics.distinct import encode
from analytics.formats import LogFormat, detect_format

BLOCK_BYTES = 8 * 1024 * 1024  # smaller blocks in flight: lower peak memory, as fast
FIRST_BLOCK_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# nginx writes lines of a few KB; a longer one is junk (or a gzip bomb of one line): it is cut
# off here, stands in the block as OVERLONG and counts as malformed, so memory stays flat.
MAX_LINE_BYTES = 64 * 1024
OVERLONG = b"(a line longer than 64 KiB, left out)\n"
STDIN = "-"


class ReadError(Exception):
    """A file that cannot be read or is corrupt; the message names it."""


@dataclass(frozen=True)
class Source:
    """One input: a file path, or stdin when `path` is None."""

    name: str
    path: Path | None = None

    @property
    def is_gzip(self) -> bool:
        if self.path is None:
            return False
        with open(self.path, "rb") as f:
            return f.read(2) == GZIP_MAGIC


@dataclass
class Parsed:
    """One block of parsed lines: `ok` marks requests, the rest are malformed (their columns
    may hold what a partial match captured: read columns only where `ok`)."""

    lines: pa.Array
    ok: np.ndarray
    columns: dict[str, pa.Array] = field(default_factory=dict)
    day: np.ndarray | None = None  # local calendar day, days since 1970-01-01
    hour: np.ndarray | None = None  # local hour
    ts: np.ndarray | None = None  # UTC seconds

    def __len__(self) -> int:
        return len(self.lines)


def expand_inputs(args: list[str]) -> tuple[list[Source], list[str]]:
    """Sources for paths, shell globs and `-`; plus one error line per argument that names nothing."""
    sources, errors = [], []
    for arg in args:
        if arg == STDIN:
            sources.append(Source("<stdin>"))
            continue
        matches = sorted(glob.glob(arg)) if glob.has_magic(arg) else [arg]
        if not matches:
            errors.append(f"{arg}: no file matches")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                errors.append(f"{path}: is a folder, not a log file")
            elif not path.exists():
                errors.append(f"{path}: file not found")
            else:
                sources.append(Source(str(path), path))
    return sources, errors


def open_stream(source: Source) -> io.BufferedIOBase:
    """The decompressed byte stream of a source; raises ReadError naming it."""
    try:
        if source.path is None:
            raw = sys.stdin.buffer
            head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
            return gzip.GzipFile(fileobj=raw) if head == GZIP_MAGIC else raw
        if source.is_gzip:
            return gzip.open(source.path, "rb")
        return open(source.path, "rb")
    except OSError as e:
        raise ReadError(f"{source.name}: cannot read ({e.strerror or e})") from None


def read_blocks(
    source: Source, start: int = 0, block_bytes: int = BLOCK_BYTES, end: int | None = None
) -> Iterator[tuple[bytes | bytearray, int]]:
    """Blocks of whole lines and the stream offset after each, from byte offset `start` on (to
    `end`, a line start, if given)."""
    stream = open_stream(source)
    offset = 0
    try:
        if start:
            if hasattr(stream, "seek") and not isinstance(stream, gzip.GzipFile):
                stream.seek(start)
                offset = start
            else:
                while offset < start:
                    skipped = stream.read(min(block_bytes, start - offset))
                    if not skipped:
                        return
                    offset += len(skipped)
        carry = b""
        skipping = False  # inside an overlong line, up to its newline
        pieces = _pieces(stream, block_bytes, None if end is None else end - offset)
        while True:
            data, error = next(pieces)
            if not data and error is None:
                break
            if skipping:
                end = data.find(b"\n") + 1
                skipping = not end
                offset += end if end else len(data)
                data = data[end:] if end else b""
            # One copy of the block (a bytearray, cut at its last newline in place), not two.
            block = bytearray(carry)
            block += data
            del data
            cut = block.rfind(b"\n") + 1
            carry = bytes(block[cut:])
            del block[cut:]
            if cut:
                offset += cut
                yield block, offset
            if len(carry) > MAX_LINE_BYTES:
                offset += len(carry)
                carry, skipping = b"", True
                yield OVERLONG, offset
            if error is not None:
                raise error
        if carry:  # a last line without a newline (truncated) is still a line
            offset += len(carry)
            yield carry, offset
    except (OSError, EOFError, zlib.error) as e:
        raise ReadError(f"{source.name}: corrupt or unreadable at byte {offset} ({e})") from None
    finally:
        if stream is not getattr(sys.stdin, "buffer", None):
            stream.close()


def _pieces(
    stream, block_bytes: int, limit: int | None = None
) -> Iterator[tuple[bytes, Exception | None]]:
    """About `block_bytes` at a time (b"" at the end), `limit` bytes in all if given; compressed
    streams are read piece by piece (`read1`) so that what came before a corrupt part is still
    returned, with the error."""
    gz = isinstance(stream, gzip.GzipFile)
    # The first block is small, so that its lines are parsed (and the rest of the work can
    # start) while the next one is read.
    want = min(block_bytes, FIRST_BLOCK_BYTES)
    while True:
        if limit is not None:
            want = min(want, limit)
        parts, size = [], 0
        try:
            while size < want:
                part = stream.read1(1 << 20) if gz else stream.read(want - size)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (OSError, EOFError, zlib.error) as e:
            yield b"".join(parts), e
            return
        yield b"".join(parts), None
        if not parts:
            return
        if limit is not None:
            limit -= size
        want = block_bytes


def split_lines(block: bytes) -> pa.Array:
    """An Arrow string array of the block's lines, each still ending in its newline.

    The array points into the block itself (no copy, no Python string per line); the format
    regexes accept the trailing newline.
    """
    if not block.endswith(b"\n"):
        block = block + b"\n"  # a new object: the caller's block stays as it was
    try:
        return _split(block)
    except pa.ArrowInvalid:  # not UTF-8: replace the bad bytes, keep every line
        return _split(block.decode("utf-8", "replace").encode("utf-8"))


def _split(block: bytes) -> pa.Array:
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + 1
    offsets = np.concatenate(([0], ends)).astype(np.int32 if len(block) < 2**31 else np.int64)
    kind = pa.StringArray if offsets.dtype == np.int32 else pa.LargeStringArray
    array = kind.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(block))
    if not block.isascii():  # ASCII is UTF-8 already; checking it costs as much as the split
        array.validate(full=True)
    return array


def parse_lines(
    lines: pa.Array,
    fmt: LogFormat,
    fields: Collection[str] | None = None,
    raw: bytes | bytearray | None = None,
) -> Parsed:
    """Parse a block with the format's regex; times become local day/hour and UTC seconds.

    `fields`: the columns wanted, if not all (the combined format then leaves the others out);
    `raw`: the lines' bytes, if at hand."""
    if quotesplit.applies(fmt):
        ok, columns, (ts, offset) = quotesplit.parse(lines, fmt, _extract, fields, raw)
    else:
        ok, columns = _extract(lines, fmt)
        if "time" in columns:
            ts, offset = times.from_column(columns["time"])
        else:
            ts, offset = _iso_time(columns["time_iso"])
    ok &= ~np.isnan(ts)
    utc = np.nan_to_num(ts).astype(np.int64)
    local = utc + np.nan_to_num(offset).astype(np.int64)
    parsed = Parsed(lines, ok, columns)
    parsed.ts = utc
    parsed.day = (local // 86400).astype(np.int32)
    parsed.hour = ((local % 86400) // 3600).astype(np.int8)
    return parsed


def _extract(lines: pa.Array, fmt: LogFormat) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The format's regexes of at most 4 groups, the first over the whole line."""
    columns: dict[str, pa.Array] = {}
    ok = None
    for regex in fmt.split_regexes:
        struct = pc.extract_regex(lines, regex)
        if ok is None:
            ok = ~np.asarray(struct.is_null().to_numpy(zero_copy_only=False), bool)
        # flatten() carries the struct's nulls (unmatched lines) into every field
        columns.update(zip([f.name for f in struct.type], struct.flatten(), strict=True))
    return ok, columns


def _iso_time(time: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    normal = pc.replace_substring_regex(time, r"Z$", "+00:00")
    zone = pc.replace_substring(pc.utf8_slice_codeunits(normal, 19, 25), ":", "")
    compact = pc.binary_join_element_wise(pc.utf8_slice_codeunits(normal, 0, 19), zone, "")
    ts = pc.strptime(compact, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    return _seconds(ts), _offsets(zone)


def _seconds(ts: pa.Array) -> np.ndarray:
    return pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _offsets(zone: pa.Array) -> np.ndarray:
    """Seconds east of UTC for `+hhmm` strings, computed once per distinct zone."""
    values, codes = encode(zone)
    return np.asarray([*map(_zone_seconds, values), np.nan], np.float64)[codes]


def _zone_seconds(zone: str | None) -> float:
    try:
        sign = -1 if zone[0] == "-" else 1
        return float(sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60))
    except (ValueError, IndexError, TypeError):
        return np.nan


def sniff_format(block: bytes, lines: int = 50) -> LogFormat | None:
    """Detect the format from the first lines of a block."""
    head = block[: 256 * 1024].decode("utf-8", "replace").split("\n")[:lines]
    return detect_format(head)


def file_size(source: Source) -> int:
    """Bytes on disk, for the progress bar (0 for stdin)."""
    return os.path.getsize(source.path) if source.path else 0
