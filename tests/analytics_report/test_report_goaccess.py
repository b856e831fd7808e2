"""GoAccess for real: the dashboard and JSON from an anonymised sample log, and its errors."""

from __future__ import annotations

import re

import pytest

from analytics.goaccess import (
    GoAccessError,
    GoAccessNotFound,
    build_dashboard,
    goaccess_json,
    without_inline_code,
)
from analytics.sample import generate_log

# The loose /24 truncation a test can do without the pipeline; the CLI tests use the real one.
IPV4 = re.compile(r"^(\d+\.\d+\.\d+)\.\d+ ", re.M)


@pytest.fixture(scope="module")
def anonymised_log(tmp_path_factory):
    raw = tmp_path_factory.mktemp("goaccess") / "raw.log"
    generate_log(raw, 3_000, seed=11, ipv6_share=0.0)
    text = IPV4.sub(r"\1.0 ", raw.read_text(encoding="utf-8")).replace("::ffff:", "")
    log = raw.with_name("anon.log")
    log.write_text(text, encoding="utf-8")
    return log


def test_dashboard_is_written(tmp_path, anonymised_log):
    out = tmp_path / "goaccess.html"
    build_dashboard(anonymised_log, out)
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "GoAccess" in html
    names = {"goaccess.html", "goaccess.js", "goaccess.css", "goaccess-icons.woff"}
    assert {p.name for p in tmp_path.iterdir()} == names
    assert (tmp_path / "goaccess-icons.woff").read_bytes()[:4] == b"wOFF"


def test_dashboard_needs_nothing_inline(tmp_path, anonymised_log):
    """So a CSP without 'unsafe-inline' lets it run (the browser tests run it under one)."""
    out = tmp_path / "goaccess.html"
    build_dashboard(anonymised_log, out)
    html = out.read_text(encoding="utf-8")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs for attrs, _ in scripts if "text/template" not in attrs] == [' src="goaccess.js"']
    assert not any(code.strip() for attrs, code in scripts if "src=" in attrs)
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert re.search(r"""<link rel="stylesheet" href="goaccess.css">""", html)
    assert "data:application/font-woff" not in (tmp_path / "goaccess.css").read_text()
    code = (tmp_path / "goaccess.js").read_text(encoding="utf-8")
    assert '"total_requests": 3000' in code  # the data went along with the scripts
    assert ".attr('style'" not in code


def test_a_dashboard_goaccess_did_not_write_is_refused():
    with pytest.raises(GoAccessError, match="without inline scripts"):
        without_inline_code("<!doctype html><title>x</title><body>nothing</body>")


def test_dashboard_loads_nothing_from_another_origin(tmp_path, anonymised_log):
    out = tmp_path / "goaccess.html"
    build_dashboard(anonymised_log, out)
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"""@import|url\(\s*["']?(https?:)?//""", html)
    # Its WebSocket client only starts for --real-time-html, which sets window.connection.
    assert not re.search(r"\bconnection\s*=\s*\{", html)


def test_json_counts_every_line(anonymised_log):
    report = goaccess_json(anonymised_log)
    assert report["general"]["total_requests"] == 3_000
    days = {row["data"] for row in report["visitors"]["data"]}
    assert days == {f"202610{d}" for d in range(21, 28)}


def test_failure_carries_goaccess_message(tmp_path):
    log = tmp_path / "hashed.log"
    # A hash where the address should be: GoAccess refuses the whole log.
    log.write_text(
        'a1b2c3d4e5 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "x"\n',
        encoding="utf-8",
    )
    out = tmp_path / "goaccess.html"
    with pytest.raises(GoAccessError, match=r"goaccess failed on .*hashed\.log") as raised:
        build_dashboard(log, out)
    assert "valid" in str(raised.value).lower() or "parse" in str(raised.value).lower()
    assert list(tmp_path.iterdir()) == [log]  # no half-written dashboard


def test_missing_goaccess_says_what_to_do(tmp_path, anonymised_log, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without goaccess on it
    with pytest.raises(GoAccessNotFound, match=r"install .*--no-goaccess"):
        build_dashboard(anonymised_log, tmp_path / "goaccess.html")
    with pytest.raises(GoAccessNotFound):
        goaccess_json(anonymised_log)


def test_markup_in_log_lines_stays_data(tmp_path):
    """A request path or agent that looks like HTML stays data in goaccess.js (GoAccess escapes
    it too), and the page gains no inline script from it."""
    line = (
        '192.0.2.0 - - [21/Oct/2026:10:00:00 +0200] "GET /<script>alert(1)</script> HTTP/1.1" '
        '404 5 "-" "<style>body{display:none}</style> style=\'x\'"\n'
    )
    log = tmp_path / "odd.log"
    log.write_text(line * 3, encoding="utf-8")
    build_dashboard(log, tmp_path / "goaccess.html")
    html = (tmp_path / "goaccess.html").read_text(encoding="utf-8")
    assert "alert(1)" not in html and "display:none" not in html
    assert re.findall(r"<script(?![^>]*text/template)[^>]*>", html) == [
        '<script src="goaccess.js">'
    ]
    code = (tmp_path / "goaccess.js").read_text(encoding="utf-8")
    assert r'"data": "\/&lt;script&gt;alert(1)&lt;\/script&gt;"' in code
