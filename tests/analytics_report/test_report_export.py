"""stats.json and the CSVs read back to the same figures."""

from __future__ import annotations

import csv
import json

import pandas as pd

from analytics.export import write_csvs, write_json


def test_json_round_trip_keeps_values_and_order(tmp_path, stats):
    stats["tables"]["referrers"]["rows"].append({"key": "zoëkmachine.nl", "count": 1})
    path = write_json(stats, tmp_path)
    assert path == tmp_path / "stats.json"
    raw = path.read_bytes()
    assert "zoëkmachine.nl".encode() in raw  # UTF-8, not \u escapes
    assert raw.startswith(b'{\n  "generated"')  # indent 2
    back = json.loads(raw)
    assert back == stats
    assert list(back["tables"]) == list(stats["tables"])
    assert [r["key"] for r in back["tables"]["pages"]["rows"]] == [
        r["key"] for r in stats["tables"]["pages"]["rows"]
    ]


def test_one_csv_per_table_and_daily(tmp_path, stats):
    paths = write_csvs(stats, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        ["daily.csv", *(f"{name}.csv" for name in stats["tables"])]
    )
    assert not list(tmp_path.glob(".*.part"))


def test_csv_round_trip(tmp_path, stats):
    write_csvs(stats, tmp_path)
    pages = pd.read_csv(tmp_path / "pages.csv")
    assert list(pages.columns) == ["key", "count", "visitors"]
    assert pages.to_dict("records") == stats["tables"]["pages"]["rows"]
    daily = pd.read_csv(tmp_path / "daily.csv")
    assert list(daily.columns) == ["date", "requests", "pageviews", "visitors", "visits", "bots"]
    assert daily.to_dict("records") == stats["daily"]
    # Keys that look like numbers stay text for a plain csv reader.
    with open(tmp_path / "hours.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0] == {"key": "00", "count": "1"}


def test_empty_table_gives_a_header_only_csv(tmp_path, stats):
    write_csvs(stats, tmp_path)
    assert (tmp_path / "countries.csv").read_text(encoding="utf-8") == "key,count\n"
