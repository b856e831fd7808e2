"""`analytics purge-logs`: delete raw logs (full IP addresses) older than shop.toml allows."""

from __future__ import annotations

import datetime as dt
import glob
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Purge:
    deleted: list[Path]
    kept: list[Path]
    errors: list[str]


def old_logs(
    patterns: list[str], days: int, now: dt.datetime | None = None
) -> tuple[list[Path], list[Path]]:
    """Files matching the globs last written more than `days` days ago, and the others."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = (now - dt.timedelta(days=days)).timestamp()
    old, young = [], []
    for pattern in patterns:
        for match in sorted(glob.glob(pattern)):
            path = Path(match)
            if not path.is_file():
                continue
            (old if path.stat().st_mtime < cutoff else young).append(path)
    return old, young


def purge_logs(patterns: list[str], days: int, *, dry_run: bool = False, now=None) -> Purge:
    """Delete raw logs whose last write is older than `days` days (the file itself, not lines)."""
    old, young = old_logs(patterns, days, now)
    deleted, errors = [], []
    for path in old:
        if dry_run:
            deleted.append(path)
            continue
        try:
            os.remove(path)
            deleted.append(path)
        except OSError as e:
            errors.append(f"{path}: cannot delete ({e.strerror})")
    return Purge(deleted, young, errors)
