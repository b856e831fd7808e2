"""Our counts against GoAccess's JSON on the same generated log (GoAccess reads the anonymised copy).

Definitions that meet here:
- a request is a line that parses as a request, whatever its status or client: pages, assets,
  bots, 404 probes and nginx's `"-" 400` lines (a connection that sent no request) alike.
  GoAccess 1.7 with --log-format=COMBINED counts those `"-"` lines as valid too, so
  `requests == valid_requests` exactly;
- a line that does not parse is `malformed` for us and `failed_requests` for GoAccess, and
  `total_requests` is the sum for both;
- a day is the calendar day of the timestamp as logged (local time, offset ignored), which is
  what GoAccess's visitors panel shows; the sample log spans the end of summer time (+0200 ->
  +0100), so an offset-converting day would show up here as a mismatch.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from analytics.cli import cli
from analytics.goaccess import goaccess_json
from analytics.sample import generate_log

# Lines real nginx logs hold besides ordinary requests; the sample log already has `"-" 400`.
EXTRA_LINES = [
    # A TLS handshake sent to the plain-HTTP port: nginx writes the bytes escaped.
    '45.148.10.5 - - [22/Oct/2026:03:12:09 +0200] "\\x16\\x03\\x01\\x00\\xF4\\x01\\x00\\x00'
    '\\xF0\\x03\\x03" 400 157 "-" "-"',
    # A request line with a quote in it, nginx-escaped.
    '45.148.10.6 - - [22/Oct/2026:03:12:10 +0200] "GET /a\\x22b HTTP/1.1" 404 153 "-" "-"',
]
MALFORMED_LINES = ["this is not a log line at all", "45.148.10.7 - - [22/Oct/2026:03:1"]


# The shop's own log, and a busier site's: thousands of user agents and paths, query strings,
# long referrers, 30 % IPv6 clients and an X-Forwarded-For field after the user agent.
SHAPES = {"shop": {}, "varied": {"varied": True, "ipv6_share": 0.3, "xff": True}}


@pytest.fixture(scope="module", params=list(SHAPES))
def both(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("crosscheck")
    log = base / "access.log"
    generate_log(log, 30_000, seed=5, **SHAPES[request.param])
    lines = log.read_text(encoding="utf-8").splitlines()
    # Keep time order: the extras belong to the early morning of 22 Oct.
    at = next(i for i, line in enumerate(lines) if "[22/Oct/2026:03:1" in line)
    lines[at:at] = EXTRA_LINES + MALFORMED_LINES
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    runner = CliRunner()
    anonymised = base / "anonymised.log"
    for args in (
        ["anonymize", str(log), "-o", str(anonymised)],
        ["report", str(log), "--out", str(base / "stats"), "--no-goaccess"],
    ):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    ours = json.loads((base / "stats" / "stats.json").read_text(encoding="utf-8"))
    return {
        "ours": ours,
        "goaccess": goaccess_json(anonymised),
        # Only to compare how malformed lines count; nothing of this run is written anywhere.
        "goaccess_raw": goaccess_json(log),
        "lines": len(lines),
    }


def test_requests_match_goaccess_exactly(both):
    ours, general = both["ours"], both["goaccess"]["general"]
    assert ours["requests"] == ours["valid_requests"] == general["valid_requests"]
    assert ours["requests"] == both["lines"] - len(MALFORMED_LINES)


def test_totals_and_failed_lines(both):
    ours, general = both["ours"], both["goaccess"]["general"]
    assert ours["malformed"] == ours["failed_requests"] == len(MALFORMED_LINES)
    assert ours["total_requests"] == both["lines"]
    # GoAccess does not see the malformed lines at all: anonymize copies requests only.
    assert general["failed_requests"] == 0
    assert general["total_requests"] == ours["requests"]
    raw = both["goaccess_raw"]["general"]
    assert raw["total_requests"] == ours["total_requests"]
    assert raw["failed_requests"] == ours["failed_requests"]
    assert raw["valid_requests"] == ours["valid_requests"]


def test_requests_per_day_match_goaccess(both):
    ours = {d["date"].replace("-", ""): d["requests"] for d in both["ours"]["daily"]}
    theirs = {row["data"]: row["hits"]["count"] for row in both["goaccess"]["visitors"]["data"]}
    assert ours == theirs
    assert len(ours) == 7
