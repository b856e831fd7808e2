"""Anonymised log lines kept per day in the state folder, so goaccess.html covers the whole report
period and not just the lines read in the last run.

`STATE/anonymised/YYYY-MM-DD.log.gz`: combined lines with truncated IPs and no query strings (what
`analytics anonymize` writes), a gzip member appended per run. A run writes its lines to `.part`
files first and appends them only after the state was saved, so a failed run adds nothing. Days
before the report window are deleted at each run.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from analytics.anonymised_log import write_lines
from analytics.days import date_of

FOLDER = "anonymised"
SUFFIX = ".log.gz"
PART = ".part"


class KeptLines:
    def __init__(self, state_folder: Path) -> None:
        self.folder = Path(state_folder) / FOLDER
        self.folder.mkdir(exist_ok=True)
        for stale in self.folder.glob(f"*{PART}"):  # from a run that failed
            stale.unlink()
        self._parts: dict[int, gzip.GzipFile] = {}

    def path(self, day: int) -> Path:
        return self.folder / f"{date_of(day).isoformat()}{SUFFIX}"

    def write(self, lines: pa.Array, day: np.ndarray) -> None:
        """Add `lines` (one per row, ending in a newline) to the files of their days."""
        days = np.unique(day)
        for d in days.tolist():
            part = self._parts.get(d)
            if part is None:
                name = self.path(d).name + PART
                part = gzip.open(self.folder / name, "wb", 6)  # noqa: SIM115 - open for the run
                self._parts[d] = part
            write_lines(lines if len(days) == 1 else lines.filter(pa.array(day == d)), part)

    def commit(self) -> None:
        """Append this run's lines to the day files (after the state was saved)."""
        for d, part in self._parts.items():
            part.close()
            written = Path(part.name)
            with open(written, "rb") as src, open(self.path(d), "ab") as dst:
                shutil.copyfileobj(src, dst)
            written.unlink()
        self._parts = {}

    def discard(self) -> None:
        for part in self._parts.values():
            part.close()
            Path(part.name).unlink(missing_ok=True)
        self._parts = {}

    def prune(self, first_day: int) -> None:
        """Delete the files of days before `first_day`."""
        first = self.path(first_day).name
        for path in self.folder.glob(f"*{SUFFIX}"):
            if path.name < first:
                path.unlink()

    def files(self, start: int, end: int) -> list[Path]:
        """The day files from `start` to `end` (inclusive) that exist, oldest first."""
        paths = (self.path(d) for d in range(start, end + 1))
        return [p for p in paths if p.is_file()]
