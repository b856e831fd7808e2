"""What `--state` may hold: no hash key, no visitor key past 48 h, no prefix keeping a whole
address; and the anonymised lines it keeps so goaccess.html covers the report period."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os

import pandas as pd
import pytest
from click.testing import CliRunner

from analytics import keydir, pipeline
from analytics.cli import cli
from analytics.goaccess import goaccess_json
from analytics.read import expand_inputs
from analytics.state import State


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def today_line(line, ip, minute, path="/"):
    when = dt.datetime.now(dt.UTC).replace(hour=0, minute=minute, second=0, microsecond=0)
    return line(ip, when, f"GET {path} HTTP/1.1")


def stored_forms(path):
    """A file's bytes, unpacked too when it is gzip or parquet."""
    raw = path.read_bytes()
    forms = [raw]
    if raw[:2] == b"\x1f\x8b":
        forms.append(gzip.decompress(raw))
    if raw[:4] == b"PAR1":
        forms.append(str(pd.read_parquet(path).to_dict("list")).encode())
    return forms


def test_keys_live_only_in_the_keys_dir_and_a_split_day_counts_once(tmp_path, write_log, line):
    state, keys, out = tmp_path / "state", tmp_path / "keys", tmp_path / "out"
    log = write_log([today_line(line, "192.0.2.1", 1), today_line(line, "192.0.2.2", 2)])
    report = ["report", "--state", state, "--keys-dir", keys, "--out", out, "--no-goaccess"]
    assert invoke(*report, log).exit_code == 0
    with open(log, "a") as f:  # the same two visitors later that day, and a new one
        f.write(today_line(line, "192.0.2.1", 10, "/diensten/"))
        f.write(today_line(line, "192.0.2.3", 11))
    result = invoke(*report, log)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["requests"], stats["visitors"], stats["visits"]) == (4, 3, 3)

    (keys_file,) = keys.iterdir()
    assert oct(keys.stat().st_mode & 0o777) == "0o700"
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    day_keys = [bytes.fromhex(k) for k in json.loads(keys_file.read_text()).values()]
    assert len(day_keys) == 1 and len(day_keys[0]) == 32
    stored = [p for p in state.rglob("*") if p.is_file()]
    assert {p.name for p in stored} >= {"open-visitors.parquet", "files.json"}
    for path in stored:
        for form in stored_forms(path):
            for key in day_keys:
                assert key not in form and key.hex().encode() not in form.lower(), path


def test_keys_default_to_the_runtime_directory(tmp_path, runtime_directory, write_log, line):
    state = tmp_path / "state"
    log = write_log([today_line(line, "192.0.2.1", 1)])
    result = invoke("report", log, "--state", state, "--out", tmp_path / "out", "--no-goaccess")
    assert result.exit_code == 0, result.output
    assert keydir.keys_file(runtime_directory, state).is_file()
    assert "warning" not in result.output


def test_keys_dir_inside_the_state_folder_is_refused(tmp_path, write_log, line):
    log = write_log([today_line(line, "192.0.2.1", 1)])
    state = tmp_path / "state"
    for inside in (state, state / "keys"):
        state.mkdir(exist_ok=True)
        result = invoke("report", log, "--state", state, "--keys-dir", inside, "--out",
                        tmp_path / "out", "--no-goaccess")  # fmt: skip
        assert result.exit_code != 0
        assert "inside the state folder" in result.output
        assert "Traceback" not in result.output
        assert not list(state.rglob("day-keys*"))


@pytest.mark.parametrize("command", [["report", "-o", "out"], ["purge-logs"]])
def test_keys_dir_needs_state(tmp_path, command):
    result = invoke(*command, "x.log", "--keys-dir", tmp_path / "keys")
    assert result.exit_code == 2
    assert "give --state too" in result.output
    assert not (tmp_path / "keys").exists()


def test_keys_dir_of_a_symlink_is_refused(tmp_path, write_log, line):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "keys").symlink_to(tmp_path / "elsewhere")
    log = write_log([today_line(line, "192.0.2.1", 1)])
    result = invoke("report", log, "--state", tmp_path / "state", "--keys-dir", tmp_path / "keys",
                    "--out", tmp_path / "out", "--no-goaccess")  # fmt: skip
    assert result.exit_code == 2
    assert "keys: not a folder" in result.output


def test_without_a_runtime_folder_keys_stay_in_memory_with_a_warning(
    tmp_path, write_log, line, monkeypatch
):
    monkeypatch.delenv("RUNTIME_DIRECTORY")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(keydir, "SHM", tmp_path / "no-shm")
    state = tmp_path / "state"
    log = write_log([today_line(line, "192.0.2.1", 1)])
    result = invoke("report", log, "--state", state, "--out", tmp_path / "out", "--no-goaccess")
    assert result.exit_code == 0
    assert "in memory for this run only" in result.output
    assert "may count a visitor twice" in result.output
    assert not list(tmp_path.rglob("day-keys*"))


def test_runtime_folder_is_made_private(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert keydir.keys_folder(None, {"RUNTIME_DIRECTORY": str(folder)}) == folder
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


# --- visitor keys of expired days --------------------------------------------------------------

PAST = dt.date(2026, 3, 10)


def past_state(tmp_path, write_log, line):
    """A state written on PAST's evening: its per-visitor rows were kept then."""
    lines = [
        line(f"192.0.2.{i}", dt.datetime.combine(PAST, dt.time(9, i), dt.UTC), "GET / HTTP/1.1")
        for i in range(1, 6)
    ]
    log = write_log(lines, "past.log")
    folder = tmp_path / "state"
    then = dt.datetime.combine(PAST, dt.time(20), dt.UTC)
    state = State(folder, now=then, keys_dir=keydir.private_folder(tmp_path / "keys"))
    reading = pipeline.Pipeline(pipeline.Options(state=state))
    reading.read(expand_inputs([str(log)])[0])
    pipeline.finish(reading)
    assert len(pd.read_parquet(folder / State.OPEN_KEYS)) == 5
    return folder


@pytest.mark.parametrize("command", ["report", "purge-logs"])
def test_visitor_keys_of_expired_days_are_dropped_counts_kept(tmp_path, write_log, line, command):
    state = past_state(tmp_path, write_log, line)
    if command == "report":
        result = invoke("report", "--state", state, "--out", tmp_path / "out", "--no-goaccess")
    else:
        result = invoke("purge-logs", tmp_path / "none*.log", "--state", state)
    assert result.exit_code == 0, result.output
    for name in (State.OPEN_KEYS, State.OPEN_EVENTS):
        assert len(pd.read_parquet(state / name)) == 0, name
    rebuilt = invoke("report", "--state", state, "--out", tmp_path / "again", "--no-goaccess")
    assert rebuilt.exit_code == 0, rebuilt.output
    stats = json.loads((tmp_path / "again" / "stats.json").read_text())
    assert (stats["requests"], stats["visitors"], stats["pageviews"]) == (5, 5, 5)
    assert stats["daily"][0]["date"] == PAST.isoformat()


# --- prefixes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"), [("--ipv4-prefix", 32), ("--ipv4-prefix", 25), ("--ipv6-prefix", 128),
                          ("--ipv6-prefix", 49), ("--ipv4-prefix", 7)],
)  # fmt: skip
def test_prefixes_that_keep_too_much_are_refused(tmp_path, write_log, line, option, value):
    log = write_log([line()])
    for command in (["report", "--out", tmp_path / "out"], ["anonymize", "-o", tmp_path / "a"]):
        result = invoke(*command, log, option, value)
        assert result.exit_code == 2
        assert f"Invalid value for '{option}'" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "a").exists()


def test_coarsest_prefixes_are_allowed(tmp_path, write_log, line):
    log = write_log([line("192.0.2.77"), line("2001:db8:1234:5678::1")])
    result = invoke("anonymize", log, "-o", tmp_path / "a.log", "--ipv4-prefix", 8,
                    "--ipv6-prefix", 16)  # fmt: skip
    assert result.exit_code == 0, result.output
    hosts = [x.split(" ", 1)[0] for x in (tmp_path / "a.log").read_text().splitlines()]
    assert hosts == ["192.0.0.0", "2001::"]


# --- anonymised lines for goaccess ---------------------------------------------------------------


def test_goaccess_covers_every_run_of_the_report_period(tmp_path, write_log, line):
    state, out = tmp_path / "state", tmp_path / "out"
    kept = state / "anonymised"
    kept.mkdir(parents=True)
    old = kept / "2000-01-01.log.gz"  # long before the report window
    old.write_bytes(gzip.compress(b""))
    log = write_log([today_line(line, "192.0.2.1", 1, "/first-run/"),
                     today_line(line, "192.0.2.2", 2, "/first-run/?email=a@example.com")])  # fmt: skip
    report = ["report", "--state", state, "--out", out]
    assert invoke(*report, log).exit_code == 0
    with open(log, "a") as f:
        f.write(today_line(line, "192.0.2.3", 10, "/second-run/"))
    result = invoke(*report, log)
    assert result.exit_code == 0, result.output

    assert not old.exists()
    (day_file,) = kept.iterdir()
    assert day_file.name == f"{dt.datetime.now(dt.UTC).date().isoformat()}.log.gz"
    lines = gzip.decompress(day_file.read_bytes()).decode().splitlines()
    assert len(lines) == 3
    assert all(x.startswith("192.0.2.0 - - [") for x in lines)
    assert "email" not in "".join(lines)
    general = goaccess_json([day_file])["general"]
    assert general["total_requests"] == general["valid_requests"] == 3
    dashboard = (out / "goaccess.js").read_text(encoding="utf-8")  # the data it shows
    assert r"\/first-run\/" in dashboard and r"\/second-run\/" in dashboard  # JSON-escaped
    assert '"total_requests": 3' in dashboard
    assert not list(out.glob(".anonymised-*"))


def test_files_are_recognised_by_anonymised_data_and_old_raw_digests_are_dropped(
    tmp_path, write_log, line
):
    """files.json held sha256 of a log's first raw bytes (full IPs): 256 guesses per /24 line
    gave them back. It now holds nothing computed from raw text; an old record is used once
    to resume (no line counted twice) and rewritten without its digest."""
    import hashlib

    state, out = tmp_path / "state", tmp_path / "out"
    log = write_log([today_line(line, f"192.0.2.{i}", i) for i in range(1, 6)])
    report = ["report", "--state", state, "--out", out, "--no-goaccess"]
    assert invoke(*report, log).exit_code == 0
    raw = log.read_bytes()
    (record,) = json.loads((state / "files.json").read_text())
    assert set(record) == {"name", "inode", "size", "first_line", "first_time", "offset", "seen"}
    for size in (len(raw), 1024, raw.index(b"\n") + 1):
        assert hashlib.sha256(raw[:size]).hexdigest() not in json.dumps(record)
    # The same folder as an earlier version left it: a raw-byte digest per file.
    legacy = {
        "name": str(log), "inode": log.stat().st_ino, "head_len": len(raw[:1024]),
        "head": hashlib.sha256(raw[:1024]).hexdigest(), "offset": len(raw), "seen": record["seen"],
    }  # fmt: skip
    (state / "files.json").write_text(json.dumps([legacy]))
    with open(log, "a") as f:
        f.write(today_line(line, "192.0.2.9", 30))
    assert invoke(*report, log).exit_code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["requests"] == 6  # the old offset was used: nothing read twice
    stored = (state / "files.json").read_text()
    assert legacy["head"] not in stored and '"head"' not in stored
    # Rotation is still followed: the log renamed and a new one started.
    os.rename(log, log.with_name("access.log.1"))
    write_log([today_line(line, "192.0.2.10", 40)])
    assert invoke(*report, log.parent / "access.log*").exit_code == 0
    assert json.loads((out / "stats.json").read_text())["requests"] == 7


def test_anonymised_lines_and_the_state_period_follow_the_setting(
    tmp_path, write_log, line, monkeypatch
):
    from support import write_shop_toml

    toml = write_shop_toml(tmp_path / "shop.toml", privacy={"anonymised_log_retention_days": 2})
    monkeypatch.setenv("SHOP_CONFIG", str(toml))
    first = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
    log = write_log([line(f"192.0.2.{d}", first + dt.timedelta(days=d)) for d in range(5)])
    state, out = tmp_path / "state", tmp_path / "out"
    result = invoke("report", log, "--state", state, "--out", out, "--no-goaccess")
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["period"]["start"], stats["period"]["end"]) == ("2026-10-04", "2026-10-05")
    kept = sorted(p.name for p in (state / "anonymised").iterdir())
    assert kept == ["2026-10-04.log.gz", "2026-10-05.log.gz"]
