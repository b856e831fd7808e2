"""The CLI end to end with CliRunner: inputs, errors, incremental state, anonymize, purge-logs."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from analytics import analyse
from analytics.cli import cli
from analytics.goaccess import goaccess_json


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.mark.parametrize("command", [[], ["report"], ["anonymize"], ["purge-logs"]])
def test_help_has_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


def test_every_line_is_a_request_or_malformed(write_log, report, line):
    log = write_log([line(), "garbage\n", line(ip="not-an-ip"), line(), "\n"])
    result, stats = report(log, "--verbose")
    assert result.exit_code == 0
    assert (stats["requests"], stats["malformed"]) == (2, 3)
    assert "malformed line in" in result.output and "garbage" in result.output


def test_missing_and_corrupt_files_are_reported_and_skipped(tmp_path, write_log, report, line):
    good = write_log([line(), line()])
    corrupt = tmp_path / "access.log.3.gz"
    corrupt.write_bytes(gzip.compress(line().encode() * 50)[:60])
    result, stats = report(corrupt, tmp_path / "nope.log", good)
    assert result.exit_code == 1
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 2
    assert "nope.log: file not found" in errors[0]  # missing files are named before reading
    assert "access.log.3.gz: corrupt" in errors[1]
    assert stats["requests"] >= 2


def test_stdin_globs_and_gz_in_one_run(tmp_path, write_log, report, line):
    write_log([line(request="GET /a/ HTTP/1.1")], "access.log.1")
    (tmp_path / "access.log.2.gz").write_bytes(
        gzip.compress(line(request="GET /b/ HTTP/1.1").encode())
    )
    result, stats = report(
        tmp_path / "access.log.*", "-", input=line(request="GET /c/ HTTP/1.1").encode()
    )
    assert result.exit_code == 0, result.output
    assert stats["requests"] == 3 and stats["pageviews"] == 3


def test_bad_options_give_one_clear_line(write_log, report, line, tmp_path):
    log = write_log([line()])
    for args, needle in [
        (["--log-format", "nonsense"], "unknown log format"),
        (["--ipv4-prefix", "40"], "40"),
        (["--since", "2026-13-01"], "since"),
        (["--geoip", tmp_path / "missing.mmdb"], "not found"),
    ]:
        result, _ = report(log, *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output


def test_forced_log_format_and_prefix_options(write_log, report, line):
    log = write_log(['192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5\n'])
    result, stats = report(log, "--log-format", "common", "--ipv4-prefix", "16")
    assert result.exit_code == 0, result.output
    assert stats["pageviews"] == 1
    assert stats["settings"]["ipv4_prefix"] == 16 and stats["settings"]["ipv6_prefix"] == 32


def test_an_ipv6_prefix_of_one_customer_network_is_refused(write_log, report, line):
    result, _ = report(write_log([line()]), "--ipv6-prefix", "48")
    assert result.exit_code == 2
    assert "a /48 is one customer's network" in result.output


def test_goaccess_agrees_on_requests_and_daily_hits(sample_log, report):
    _, stats = report(sample_log)
    general = goaccess_json(sample_log)
    assert stats["requests"] == general["general"]["valid_requests"]
    assert stats["bandwidth"] == general["general"]["bandwidth"]
    theirs = {
        dt.datetime.strptime(row["data"], "%Y%m%d").date().isoformat(): row["hits"]["count"]
        for row in general["visitors"]["data"]
    }
    assert {d["date"]: d["requests"] for d in stats["daily"]} == theirs


def test_report_writes_goaccess_dashboard_from_anonymised_lines(sample_log, tmp_path):
    out = tmp_path / "out"
    result = invoke("report", sample_log, "--out", out, "--lang", "en")
    assert result.exit_code == 0, result.output
    for name in ("index.html", "stats.json", "pages.csv", "goaccess.html"):
        assert (out / name).is_file()
    assert not list(out.glob(".anonymised-*"))  # the temporary anonymised log is gone
    _assert_no_full_ip(sample_log, out)


def _client_ips(log) -> set[str]:
    ips = set()
    for text in log.read_text(encoding="utf-8").splitlines():
        ips.add(text.split(" ", 1)[0])
        ips.update(re.findall(r"\d+\.\d+\.\d+\.\d+|[0-9a-f]+:[0-9a-f:.]+", text.rsplit('"', 2)[-2]))
    return {ip for ip in ips if not ip.endswith((".0", "::"))}


def _assert_no_full_ip(log, folder):
    ips = _client_ips(log)
    pattern = re.compile(r"[0-9A-Fa-f:.]{7,}")
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("utf-8", "replace")
            if path.suffix == ".parquet":
                data = path.read_bytes().decode("latin-1")
            found = set(pattern.findall(data)) & ips
            assert not found, (path, sorted(found)[:5])


def _today_line(line, ip, minute, path="/"):
    when = dt.datetime.now(dt.UTC).replace(hour=0, minute=minute, second=0, microsecond=0)
    return line(ip, when, f"GET {path} HTTP/1.1")


def test_state_counts_a_day_split_over_two_runs_once(tmp_path, write_log, report, line):
    state = tmp_path / "state"
    log = write_log([_today_line(line, "192.0.2.1", 1), _today_line(line, "192.0.2.2", 2)])
    result, first = report(log, "--state", state)
    assert result.exit_code == 0, result.output
    assert (first["requests"], first["visitors"], first["visits"]) == (2, 2, 2)
    with open(log, "a") as f:  # the same visitors later that day, and a new one
        f.write(_today_line(line, "192.0.2.1", 10, "/diensten/"))
        f.write(_today_line(line, "192.0.2.3", 11))
    result, second = report(log, "--state", state)
    assert result.exit_code == 0, result.output
    assert (second["requests"], second["visitors"], second["visits"]) == (4, 3, 3)
    assert second["pages_per_visit"] == pytest.approx(4 / 3, abs=0.01)
    _, third = report(log, "--state", state)  # nothing new: nothing counted twice
    assert third["requests"] == 4 and third["visitors"] == 3
    log.unlink()  # raw logs deleted: the report is rebuilt from the state alone
    result, rebuilt = report("--state", state)
    assert result.exit_code == 0, result.output
    assert {k: rebuilt[k] for k in ("requests", "visitors", "visits", "pageviews")} == {
        k: third[k] for k in ("requests", "visitors", "visits", "pageviews")
    }


def test_state_follows_rotation_and_keeps_no_ip(tmp_path, report):
    from analytics.sample import generate_log

    # Yesterday and today: days whose visitor keys still exist, as on a nightly schedule.
    sample_log = tmp_path / "sample.log"
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    generate_log(sample_log, 20_000, seed=5, xff=True, start=yesterday, days=2)
    state = tmp_path / "state"
    logs = tmp_path / "logs"
    logs.mkdir()
    text = sample_log.read_text().splitlines(keepends=True)
    (logs / "access.log").write_text("".join(text[:8000]))
    report(logs / "access.log*", "--state", state)
    os.rename(logs / "access.log", logs / "access.log.1")  # logrotate, then more lines
    with open(logs / "access.log.1", "a") as f:
        f.write("".join(text[8000:12000]))
    (logs / "access.log").write_text("".join(text[12000:16000]))
    report(logs / "access.log*", "--state", state)
    with open(logs / "access.log.1", "rb") as src:  # delaycompress: .1 becomes .2.gz
        (logs / "access.log.2.gz").write_bytes(gzip.compress(src.read()))
    (logs / "access.log.1").unlink()
    os.rename(logs / "access.log", logs / "access.log.1")
    (logs / "access.log").write_text("".join(text[16000:]))
    result, stats = report(logs / "access.log*", "--state", state, "--since", yesterday)
    assert result.exit_code == 0, result.output
    _, whole = report(sample_log, out=tmp_path / "whole")
    assert stats["requests"] == whole["requests"] == 20_000
    for key in ("pageviews", "visitors", "visits", "bots", "bandwidth"):
        assert stats[key] == whole[key], key
    _assert_no_full_ip(sample_log, state)


def test_anonymize_keeps_format_and_drops_identifiers(tmp_path, write_log, line):
    log = write_log(
        [
            line("203.0.113.77", request="GET /contact/?email=a@example.com HTTP/1.1",
                 referrer="https://www.google.com/search?q=me", extra=' "198.51.100.23, 10.1.2.3"'),
            line("::ffff:192.0.2.99"),
            "garbage 192.0.2.123\n",
        ]
    )  # fmt: skip
    out = tmp_path / "anon.log"
    result = invoke("anonymize", log, "-o", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == (
        '203.0.113.0 - - [21/Oct/2026:10:00:00 +0200] "GET /contact/ HTTP/1.1" 200 1234 '
        f'"https://www.google.com/search" "{line().split(chr(34))[-2]}" "198.51.100.0, 10.1.2.0"'
    )
    assert lines[1].startswith("192.0.2.0 - - ")
    assert len(lines) == 2 and "1 malformed" in result.output
    gz = tmp_path / "anon.log.gz"
    assert invoke("anonymize", log, "-o", gz).exit_code == 0
    assert gzip.decompress(gz.read_bytes()).decode().splitlines() == lines


def test_purge_logs_deletes_only_old_raw_logs(tmp_path):
    old, new = tmp_path / "access.log.9.gz", tmp_path / "access.log"
    old.write_text("x")
    new.write_text("y")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    dry = invoke("purge-logs", tmp_path / "access.log*", "--days", 7, "--dry-run")
    assert dry.exit_code == 0 and old.exists() and "would delete" in dry.output
    result = invoke("purge-logs", tmp_path / "access.log*")  # 7 days from shop.toml
    assert result.exit_code == 0, result.output
    assert not old.exists() and new.exists()
    assert f"deleted {old}" in result.output


def test_report_in_json_is_what_the_cli_wrote(sample_log, tmp_path):
    out = tmp_path / "o"
    assert invoke("report", sample_log, "--out", out, "--no-goaccess").exit_code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["settings"]["geoip"] is None
    shutil.rmtree(out)


@pytest.mark.parametrize("layout", ["geoip2", "flat"])
def test_countries_from_a_maxmind_db_with_attribution(
    tmp_path, write_log, report, line, rows, layout
):
    from geoip_db import build_country_db

    db = build_country_db(
        tmp_path / "country.mmdb", {"192.0.2.0/24": "NL", "2001:db8::/32": "DE"}, layout=layout
    )
    log = write_log(
        [line("192.0.2.1"), line("::ffff:192.0.2.9"), line("2001:db8:1::5"), line("203.0.113.5")]
    )
    result, stats = report(log, "--geoip", db)
    assert result.exit_code == 0, result.output
    assert rows(stats, "countries") == {"NL": 2, "DE": 1}
    assert stats["settings"]["geoip"] == "country.mmdb"
    assert "DB-IP" in stats["settings"]["geoip_attribution"]


def test_verbose_shows_malformed_lines_anonymised(write_log, report, line):
    log = write_log(
        [
            line(),
            "198.51.100.77 broken [21/Oct/2026:10:00:00 +0200] GET /?mail=a@example.org\n",
            '2001:db8:1:2::7 - - [garbage] "GET /?t=secret HTTP/1.1" 200\n',
        ]
    )
    result, _ = report(log, "--verbose")
    assert result.exit_code == 0, result.output
    shown = [t for t in result.output.splitlines() if t.startswith("malformed line in")]
    assert len(shown) == 2
    assert "198.51.100.0 broken" in shown[0] and "2001:db8:: - -" in shown[1]
    for text in ("198.51.100.77", "2001:db8:1:2::7", "a@example.org", "secret"):
        assert text not in result.output


def test_csv_cells_from_strangers_open_as_text(tmp_path, write_log, report, line):
    import csv

    log = write_log(
        [
            line("192.0.2.1", request="GET /?utm_source=%3D1%2B2&utm_campaign=x HTTP/1.1"),
            line("192.0.2.2", request="GET /?utm_source=@SUM(A1) HTTP/1.1"),
            line("192.0.2.3", referrer="https://-2+3.example/"),
        ]
    )
    result, _ = report(log)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    cells = [c for name in ("campaigns", "referrers") for row in
             csv.reader((out / f"{name}.csv").read_text().splitlines()) for c in row]  # fmt: skip
    assert "'=1+2 / x" in cells and "'@SUM(A1)" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_stdin_with_state_is_read_whole(tmp_path, report, line):
    """Recognising a log reads its head first: stdin, which cannot be read twice, is not."""
    text = "".join(line(f"192.0.2.{i}") for i in range(1, 201))
    result, stats = report("-", "--state", tmp_path / "state", input=text.encode())
    assert result.exit_code == 0, result.output
    assert stats["requests"] == 200


def test_the_program_leaves_whole_files_when_it_ends(tmp_path, sample_log):
    """The program leaves its objects to the OS at exit (memory.leave_heap_at_exit): what it
    wrote, the state's stored counts too, is whole and reads back as one run in-process."""
    program = Path(sys.executable).with_name("analytics")
    state, first, again = tmp_path / "state", tmp_path / "first", tmp_path / "again"
    for args in ([sample_log, "--out", first], ["--out", again]):
        run = subprocess.run(
            [program, "report", *map(str, args), "--state", str(state), "--no-goaccess"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
    in_process = analyse([sample_log])
    for out in (first, again):
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        assert stats["visitors"] == in_process["visitors"] > 0
        assert stats["tables"] == in_process["tables"]
