"""`--state DIR`: what was read already, and per-day counts that outlive the raw logs.

A log file is recognised by what survives anonymisation: a digest of its first request line
anonymised (analytics.pipeline.stream_mark; decompressed, so `access.log.1` and the later
`access.log.2.gz` are the same stream) and that line's time; it is resumed at the byte offset read
last time. Its name, inode and size are kept as hints. Nothing here is computed from raw log text:
records of earlier versions, which held a digest of a file's first raw bytes, are matched once in
memory and rewritten without it. Days whose visitor-key hash key still exists (until 48 hours
after the day ends) keep their per-visitor rows, so a day split over two runs counts each visitor
once; older days keep only counts: no IP address is ever written here, no visitor key outlives its day's hash
key, and the hash keys themselves live elsewhere (analytics.keydir).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from analytics.aggregate import (
    COUNT_COLUMNS,
    EVENT_COLUMNS,
    KEY_COLUMNS,
    REQUEST_TABLES,
    Vocabulary,
)
from analytics.keydir import DayKeys, KeysDirError, check_outside, key_is_open, keys_file
from analytics.read import ReadError, Source, open_stream
from shop.config import LIMITS
from shop.files import replaced_whole, write_whole

LEGACY_HEAD_BYTES = 1024  # earlier versions recognised a file by a digest of these raw bytes
FORGET_FILES_AFTER = dt.timedelta(days=LIMITS["files_read_days"])
# Event and key columns stored as text, re-coded into this run's vocabularies on load.
TEXT_COLUMNS = {
    "path": "path",
    "referrer": "referrer",
    "campaign": "campaign",
    "country": "country",
    "agent": "agent",
}


class StateError(Exception):
    """A state folder that cannot be used; the message names it."""


class State:
    FILES = "files.json"
    DAYS = "days.parquet"
    OPEN_KEYS = "open-visitors.parquet"
    OPEN_EVENTS = "open-pageviews.parquet"

    def __init__(
        self, folder: Path, now: dt.datetime | None = None, keys_dir: Path | None = None
    ) -> None:
        """`keys_dir`: the runtime folder for the day keys (None: in memory for this run)."""
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"{self.folder}: cannot create state folder ({e.strerror})") from None
        if not self.folder.is_dir():
            raise StateError(f"{self.folder}: not a folder")
        self.now = now or dt.datetime.now(dt.UTC)
        if keys_dir is not None:
            try:
                check_outside(keys_dir, self.folder)
            except KeysDirError as e:
                raise StateError(str(e)) from None
        path = keys_file(keys_dir, self.folder) if keys_dir is not None else None
        self.day_keys = DayKeys(path, self.now)
        self.files: list[dict] = []
        path = self.folder / self.FILES
        if path.is_file():
            try:
                self.files = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise StateError(f"{path}: not valid JSON ({e})") from None
        # Records with a raw-text digest are used for this run only, never written back.
        self._legacy = [r for r in self.files if "head" in r]
        self.files = [r for r in self.files if "first_line" in r]

    # --- files and offsets -------------------------------------------------------------
    def resume_offset(self, source: Source, mark: dict | None) -> int:
        """Where to continue reading `source` (whose stream_mark is `mark`): 0 for a new
        stream, else the offset read before."""
        if source.path is None or mark is None:
            return 0
        matches = [r for r in self.files if _same_mark(r, mark)]
        best = max(matches, key=lambda r: r["offset"], default=None)
        if best is None:
            best = self._legacy_match(source)
        if best is None:
            return 0
        if not source.is_gzip and os.path.getsize(source.path) < best["offset"]:
            return 0  # truncated in place: a new stream with the same first line
        return int(best["offset"])

    def record(self, source: Source, mark: dict | None, offset: int) -> None:
        if source.path is None or mark is None:
            return
        self.files = [r for r in self.files if not _same_mark(r, mark)]
        info = os.stat(source.path)
        self.files.append(
            {
                "name": source.name,
                "inode": info.st_ino,
                "size": info.st_size,
                **mark,
                "offset": offset,
                "seen": self.now.date().isoformat(),
            }
        )

    def _legacy_match(self, source: Source) -> dict | None:
        """The record of an earlier version for `source`, matched by its raw-byte digest in
        memory (the digest is dropped from the folder when this run saves)."""
        if not self._legacy:
            return None
        try:
            with open_stream(source) as stream:
                head = stream.read(LEGACY_HEAD_BYTES)
        except (ReadError, OSError, EOFError):
            return None
        matches = [
            r
            for r in self._legacy
            if 0 < r.get("head_len", 0) <= len(head)
            and hashlib.sha256(head[: r["head_len"]]).hexdigest() == r["head"]
        ]
        return max(matches, key=lambda r: r["head_len"], default=None)

    # --- counts --------------------------------------------------------------------------
    def load(self, names: dict[str, Vocabulary]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Stored per-day counts, and the per-visitor rows of days still open (re-coded)."""
        days = self._read(self.DAYS, COUNT_COLUMNS)
        keys = self._read(self.OPEN_KEYS, KEY_COLUMNS)
        events = self._read(self.OPEN_EVENTS, EVENT_COLUMNS)
        for frame in (keys, events):
            for column in TEXT_COLUMNS:
                if column in frame and len(frame):
                    frame[column] = names[column].codes(pa.array(frame[column], pa.string()))
        if len(events):
            events["ts"] = events["ts"].astype(np.uint32)
        return days, keys, events

    def is_open(self, day: int) -> bool:
        """Whether `day` may keep per-visitor rows: while its hash key may exist."""
        return key_is_open(day, self.now)

    def save(
        self,
        counts: pd.DataFrame,
        derived_days: set[int],
        open_keys: pd.DataFrame,
        open_events: pd.DataFrame,
        names: dict[str, Vocabulary],
    ) -> None:
        """Counts of closed days, per-visitor rows of open days, file offsets and day keys."""
        open_days = {d for d in derived_days if self.is_open(d)}
        keep = counts["table"].isin(REQUEST_TABLES) | ~counts["day"].isin(open_days)
        self._write(self.DAYS, counts[keep])
        for name, frame in ((self.OPEN_KEYS, open_keys), (self.OPEN_EVENTS, open_events)):
            frame = frame[frame["day"].isin(open_days)].copy()
            for column in TEXT_COLUMNS:
                if column in frame:
                    frame[column] = names[column].decode(frame[column].to_numpy())
            self._write(name, frame)
        cutoff = (self.now - FORGET_FILES_AFTER).date().isoformat()
        self.files = [r for r in self.files if r.get("seen", "") >= cutoff]
        write_whole(self.folder / self.FILES, json.dumps(self.files, indent=1))
        self.day_keys.save()

    def _read(self, name: str, columns: list[str]) -> pd.DataFrame:
        path = self.folder / name
        if not path.is_file():
            return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several kinds for a damaged file
            raise StateError(f"{path}: unreadable state file ({e})") from None

    def _write(self, name: str, frame: pd.DataFrame) -> None:
        with replaced_whole(self.folder / name) as sink:
            frame.reset_index(drop=True).to_parquet(sink, index=False)


def _same_mark(record: dict, mark: dict) -> bool:
    """Whether a stream with `mark` is the one `record` was made from."""
    return record["first_line"] == mark["first_line"] and record["first_time"] == mark["first_time"]
