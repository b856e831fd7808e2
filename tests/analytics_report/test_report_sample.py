"""The generated sample log: exact size, time order, both offsets, the mix the report needs."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter

import pytest

from analytics.sample import generate_log, main
from shop.site import PAGE_PATHS

LINE = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+) '
    r'"(?P<referrer>[^"]*)" "(?P<ua>[^"]*)"(?: "(?P<xff>[^"]*)")?$'
)


def parsed(text: str) -> list[re.Match]:
    lines = text.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches, strict=True) if not m][:3]
    return matches


@pytest.fixture(scope="module")
def sample() -> list[re.Match]:
    buffer = io.StringIO()
    generate_log(buffer, 20_000, seed=7)
    return parsed(buffer.getvalue())


def test_exact_line_count_and_seeded(tmp_path):
    generate_log(tmp_path / "a.log", 3_001, seed=3)
    generate_log(tmp_path / "b.log", 3_001, seed=3)
    generate_log(tmp_path / "c.log", 3_001, seed=4)
    a = (tmp_path / "a.log").read_bytes()
    assert a.count(b"\n") == 3_001 and a.endswith(b"\n")
    assert a == (tmp_path / "b.log").read_bytes()
    assert a != (tmp_path / "c.log").read_bytes()


def test_in_time_order_with_both_offsets(sample):
    times = [dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z") for m in sample]
    assert times == sorted(times)
    assert {m["time"][-5:] for m in sample} == {"+0200", "+0100"}  # summer time ends 25 Oct
    assert times[0].date() == dt.date(2026, 10, 21) and times[-1].date() == dt.date(2026, 10, 27)


def test_start_and_days(tmp_path):
    generate_log(tmp_path / "x.log", 500, start=dt.date(2026, 1, 30), days=3)
    days = {m["time"][:11] for m in parsed((tmp_path / "x.log").read_text())}
    assert days == {"30/Jan/2026", "31/Jan/2026", "01/Feb/2026"}


def test_thousands_of_distinct_clients_of_every_kind(sample):
    ips = {m["ip"] for m in sample}
    assert len(ips) > 1_000
    assert sum(1 for ip in ips if ip.startswith("::ffff:")) >= 10
    assert sum(1 for ip in ips if ":" in ip and not ip.startswith("::ffff:")) > 200
    assert any("::" in ip and not ip.startswith("::ffff:") for ip in ips)  # compressed IPv6


def test_the_sites_pages_assets_and_probes(sample):
    paths = Counter(m["request"].split(" ")[1] for m in sample if m["request"] != "-")
    for key in ("home", "services", "repair", "contact"):
        for lang in ("nl", "en"):
            assert paths[PAGE_PATHS[key][lang]] > 0
    assert paths["/theme/css/style.css"] > 0 and paths["/theme/favicon.svg"] > 0
    assert paths["/robots.txt"] > 0 and paths["/wp-login.php"] > 0 and paths["/.env"] > 0
    assert any("utm_source=" in p for p in paths) and any("email=" in p for p in paths)


def test_statuses_bots_and_referrers(sample):
    statuses = Counter(m["status"] for m in sample)
    assert {"200", "304", "404", "303"} <= set(statuses)
    agents = " ".join({m["ua"] for m in sample})
    for bot in ("Googlebot", "bingbot", "AhrefsBot", "curl/", "python-requests", "HeadlessChrome"):
        assert bot in agents
    assert any(m["ua"] == "" for m in sample) and any(m["ua"] == "-" for m in sample)
    for browser in ("Firefox/", "Edg/", "Mobile Safari", "Version/18.1 Safari"):
        assert browser in agents
    referrers = {m["referrer"] for m in sample}
    for host in ("google.com", "bing.com", "duckduckgo.com", "facebook.com", "www.itfixe.example"):
        assert any(host in r for r in referrers), host
    assert "-" in referrers


def test_no_request_lines(tmp_path):
    generate_log(tmp_path / "x.log", 20_000, seed=1)
    lines = [m for m in parsed((tmp_path / "x.log").read_text()) if m["request"] == "-"]
    assert lines and all(m["status"] == "400" for m in lines)


def test_bot_share_roughly_as_asked(tmp_path):
    bots = re.compile(r"bot|curl|python|Headless|zgrab|Go-http|^-?$|Chrome/91", re.I)
    for share in (0.05, 0.4):
        generate_log(tmp_path / "x.log", 10_000, bot_share=share, seed=2)
        lines = parsed((tmp_path / "x.log").read_text())
        measured = sum(1 for m in lines if bots.search(m["ua"])) / len(lines)
        assert share * 0.6 < measured < share * 1.5, (share, measured)


def test_forwarded_for_field(tmp_path):
    generate_log(tmp_path / "x.log", 5_000, xff=True, seed=5)
    lines = parsed((tmp_path / "x.log").read_text())
    forwarded = [m["xff"] for m in lines]
    assert all(f is not None for f in forwarded)
    assert "-" in forwarded
    assert any(", " in f for f in forwarded)  # a proxy chain
    assert any(":" in f for f in forwarded)  # IPv6 in it too


def test_command_line(tmp_path, capsys):
    assert main([str(tmp_path / "cli.log"), "--lines", "50", "--seed", "9"]) == 0
    assert (tmp_path / "cli.log").read_text().count("\n") == 50
    assert main(["-", "--lines", "5"]) == 0
    assert capsys.readouterr().out.count("\n") == 5
    with pytest.raises(SystemExit) as exit_:
        main(["-", "--lines", "-1"])
    assert exit_.value.code == 2
    assert "--lines must be" in capsys.readouterr().err
