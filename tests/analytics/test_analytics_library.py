"""The library the CLI is thin over: `analyse` returns what `report` writes to stats.json, and
`write_report_files` writes the report folder, with the CLI's options as keyword arguments."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from analytics import analyse, count_days, write_report_files
from analytics.formats import FormatError


def without_time(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "generated"}


@pytest.mark.parametrize(
    ("args", "options"),
    [
        ([], {}),
        (
            ["--ipv4-prefix", "16", "--since", "2026-10-22", "--until", "2026-10-24"],
            {"ipv4_prefix": 16, "since": dt.date(2026, 10, 22), "until": dt.date(2026, 10, 24)},
        ),
    ],
)
def test_analyse_returns_what_stats_json_holds(sample_log, report, args, options):
    result, written = report(sample_log, *args)
    assert result.exit_code == 0, result.output
    assert without_time(analyse([sample_log], **options)) == without_time(written)


def test_write_report_files_with_state_reads_only_new_lines(sample_log, tmp_path):
    state, keys = tmp_path / "state", tmp_path / "keys"
    first = write_report_files(
        [sample_log], tmp_path / "out", goaccess=False, state=state, keys_dir=keys
    )
    assert (first.lines, first.errors) == (20_000, ())
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"index.html", "report.css", "stats.json", "daily.csv"} <= names
    assert "goaccess.html" not in names
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == first.stats
    again = write_report_files(
        [sample_log], tmp_path / "again", goaccess=False, state=state, keys_dir=keys
    )
    assert again.lines == 0
    assert without_time(again.stats) == without_time(first.stats)


def test_count_days_reports_unreadable_inputs_and_bad_options(tmp_path):
    messages = []
    counts = count_days([tmp_path / "missing.log"], on_error=messages.append)
    assert counts.errors == tuple(messages) and "missing.log" in messages[0]
    assert counts.lines == 0
    with pytest.raises(FormatError):
        count_days([tmp_path / "missing.log"], log_format="nonsense")
