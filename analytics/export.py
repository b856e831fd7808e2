"""The figures for other tools: stats.json and one CSV per table (plus daily.csv)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from shop.files import write_whole

# A cell starting with one of these opens as a formula in a spreadsheet; campaign values and
# referrer hosts come from strangers, so such text is written with a leading ' (as text).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_json(stats: dict, out_dir: Path) -> Path:
    """Write out_dir/stats.json (UTF-8, indented, tables in the order given)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "stats.json"
    text = json.dumps(stats, ensure_ascii=False, indent=2) + "\n"
    return write_whole(target, text)


def write_csvs(stats: dict, out_dir: Path) -> list[Path]:
    """Write out_dir/<table>.csv for every table and out_dir/daily.csv; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_write_csv(out_dir / "daily.csv", stats.get("daily", []), ["date"])]
    for name, table in stats.get("tables", {}).items():
        written.append(_write_csv(out_dir / f"{name}.csv", table.get("rows", []), ["key", "count"]))
    return written


def _write_csv(target: Path, rows: list[dict], leading: list[str]) -> Path:
    """Columns: the leading ones, then every other column in first-seen order."""
    columns = list(leading)
    for row in rows:
        columns += [c for c in row if c not in columns]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: as_text_cell(v) for k, v in row.items()} for row in rows)
    return write_whole(target, text.getvalue())


def as_text_cell(value):
    """`value`, with text a spreadsheet would run as a formula made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
