"""Repair requests counted from the log: a human visit whose POST to the form's action got a 303."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from support import write_shop_toml

from analytics.cli import cli

FORM = "/api/repair-request"
DAY = dt.datetime(2026, 10, 21, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def at(minutes: float) -> dt.datetime:
    return DAY + dt.timedelta(minutes=minutes)


def visit(line, ip, *, referrer="-", entry="/", ua=None, start=0.0, status=303, posts=1):
    """A visit: the entry page, the form page, `posts` POSTs answered `status`."""
    extra = {"ua": ua} if ua else {}
    lines = [
        line(ip, at(start), f"GET {entry} HTTP/1.1", referrer=referrer, **extra),
        line(ip, at(start + 1), "GET /reparatie-aanvragen/ HTTP/1.1", **extra),
    ]
    for i in range(posts):
        lines.append(line(ip, at(start + 2 + i), f"POST {FORM} HTTP/1.1", status, 0, **extra))
    return lines


def rows_of(stats, table):
    return {r["key"]: (r["count"], r.get("visits")) for r in stats["tables"][table]["rows"]}


def funnel(stats):
    return stats["visits"], stats["form_visits"], stats["conversions"]


def test_only_posts_answered_303_count(report, write_log, line):
    log = write_log(
        visit(line, "192.0.2.1", status=303)
        + visit(line, "192.0.2.2", status=422)  # invalid input
        + visit(line, "192.0.2.3", status=429)  # rate limited
        + visit(line, "192.0.2.4", status=500)
        + [line("192.0.2.5", at(0), "GET / HTTP/1.1")]  # did not look at the form
    )
    result, stats = report(log)
    assert result.exit_code == 0, result.output
    assert funnel(stats) == (5, 4, 1)
    assert stats["conversion_rate"] == 0.2
    assert stats["conversion_requests"] == 1
    assert stats["daily"][0]["conversions"] == 1


def test_bots_do_not_count(report, write_log, line, agents):
    log = write_log(
        [
            *visit(line, "192.0.2.1", ua=agents.googlebot),  # a crawler's user agent
            # a browser's user agent that fetched robots.txt first: a script
            line("192.0.2.2", at(0), "GET /robots.txt HTTP/1.1"),
            *visit(line, "192.0.2.2"),
            *visit(line, "192.0.2.3", ua=agents.firefox),
        ]
    )
    result, stats = report(log)
    assert result.exit_code == 0, result.output
    assert funnel(stats) == (1, 1, 1)


def test_a_post_without_a_pageview_of_its_visitor_is_not_a_visit(report, write_log, line):
    log = write_log(
        [line("192.0.2.9", at(0), f"POST {FORM} HTTP/1.1", 303, 0), *visit(line, "192.0.2.1")]
    )
    _, stats = report(log)
    assert funnel(stats) == (1, 1, 1)


def test_requests_by_source_and_entry_page(report, write_log, line):
    log = write_log(
        visit(line, "192.0.2.1", referrer="https://www.google.nl/", entry="/diensten/")
        + visit(line, "192.0.2.2", referrer="https://www.google.com/search")
        + visit(line, "192.0.2.3", status=422, referrer="https://www.google.nl/")
        + visit(line, "192.0.2.4", entry="/?utm_source=flyer&utm_medium=print")
        + visit(line, "192.0.2.5", referrer="https://www.marktplaats.nl/v/123")
        + visit(line, "192.0.2.6")  # direct
        + [line("192.0.2.7", at(0), "GET /contact/ HTTP/1.1")]
    )
    result, stats = report(log)
    assert result.exit_code == 0, result.output
    # (visits with a request, visits from that source)
    assert rows_of(stats, "conversion_sources") == {
        "Google": (2, 3),
        "flyer / print": (1, 1),
        "Marktplaats": (1, 1),
        "(direct)": (1, 2),
    }
    assert rows_of(stats, "conversion_entry_pages") == {"/": (4, 5), "/diensten/": (1, 1)}
    assert stats["conversions"] == 5


def test_two_requests_in_one_visit_are_one_visit_with_a_request(report, write_log, line):
    _, stats = report(write_log(visit(line, "192.0.2.1", posts=2)))
    assert (stats["conversions"], stats["conversion_requests"]) == (1, 2)
    # 30 minutes later it is a new visit: a second visit with a request
    later = [
        line("192.0.2.1", at(60), "GET /reparatie-aanvragen/ HTTP/1.1"),
        line("192.0.2.1", at(61), f"POST {FORM} HTTP/1.1", 303, 0),
    ]
    _, stats = report(write_log(visit(line, "192.0.2.1") + later))
    assert (stats["visits"], stats["conversions"]) == (2, 2)
    assert rows_of(stats, "conversion_entry_pages") == {
        "/": (1, 1),
        "/reparatie-aanvragen/": (1, 1),
    }


def test_the_handlers_own_log_is_matched_by_the_visitor_key_of_the_day(
    report, write_log, line, tmp_path, monkeypatch
):
    """Handler on another host: its log holds the POSTs, the site's log the visits."""
    toml = write_shop_toml(
        tmp_path / "shop.toml", site={"form_action": "https://forms.example/api/repair-request"}
    )
    monkeypatch.setenv("SHOP_CONFIG", str(toml))
    site = write_log(
        [
            line("192.0.2.1", at(0), "GET / HTTP/1.1", referrer="https://www.bing.com/"),
            line("192.0.2.1", at(1), "GET /reparatie-aanvragen/ HTTP/1.1"),
            line("192.0.2.2", at(0), "GET /reparatie-aanvragen/ HTTP/1.1"),
            line("192.0.2.3", at(5), "GET /reparatie-aanvragen/ HTTP/1.1"),
        ],
        "site.log",
    )
    handler = write_log(
        [
            line("192.0.2.1", at(2), f"POST {FORM} HTTP/1.1", 303, 0),
            # the handler's clock is a little ahead: the request still belongs to the visit
            line("192.0.2.3", at(4.5), f"POST {FORM} HTTP/1.1", 303, 0),
            # same address, another browser: another visitor, whose visit is not in the log
            line("192.0.2.2", at(1), f"POST {FORM} HTTP/1.1", 303, 0, ua="curl-like/1.0 Gecko"),
        ],
        "handler.log",
    )
    result, stats = report(site, handler)
    assert result.exit_code == 0, result.output
    assert funnel(stats) == (3, 3, 2)
    assert rows_of(stats, "conversion_sources") == {"Bing": (1, 1), "(direct)": (1, 2)}


def test_a_request_before_its_visitors_first_pageview_is_not_anothers(report, write_log, line):
    """The handler's clock runs ahead: the request comes first, yet it is that visitor's."""
    log = write_log(
        [
            line("192.0.2.1", at(0), "GET / HTTP/1.1", referrer="https://www.google.com/"),
            line("192.0.2.1", at(1), "GET /reparatie-aanvragen/ HTTP/1.1"),
            line("192.0.2.2", at(9.5), f"POST {FORM} HTTP/1.1", 303, 0),
            line("192.0.2.2", at(10), "GET /diensten/ HTTP/1.1", referrer="https://www.bing.com/"),
        ]
    )
    result, stats = report(log)
    assert result.exit_code == 0, result.output
    assert funnel(stats) == (2, 2, 1)
    assert rows_of(stats, "conversion_sources") == {"Bing": (1, 1)}
    assert rows_of(stats, "conversion_entry_pages") == {"/diensten/": (1, 1)}


def test_counts_merge_across_state_runs(tmp_path, write_log, line):
    """--state: a visit's pageviews in one run and its request in the next count once."""
    now = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = [
        line("192.0.2.1", now, "GET / HTTP/1.1", referrer="https://duckduckgo.com/"),
        line("192.0.2.1", now + dt.timedelta(minutes=1), "GET /reparatie-aanvragen/ HTTP/1.1"),
        line("192.0.2.1", now + dt.timedelta(minutes=2), f"POST {FORM} HTTP/1.1", 303, 0),
        line("192.0.2.2", now + dt.timedelta(minutes=3), "GET /reparatie-aanvragen/ HTTP/1.1"),
        line("192.0.2.2", now + dt.timedelta(minutes=4), f"POST {FORM} HTTP/1.1", 303, 0),
    ]
    log, out, state = tmp_path / "access.log", tmp_path / "out", tmp_path / "state"
    run = ["report", str(log), "--state", str(state), "--out", str(out), "--no-goaccess"]
    for part in (lines[:2], lines[2:4], lines[4:]):
        with open(log, "a") as f:
            f.writelines(part)
        result = CliRunner().invoke(cli, run)
        assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert funnel(stats) == (2, 2, 2)
    assert rows_of(stats, "conversion_sources") == {"DuckDuckGo": (1, 1), "(direct)": (1, 1)}
    # rebuilt from the stored counts alone, the same
    result = CliRunner().invoke(cli, run[:1] + run[2:])
    assert result.exit_code == 0, result.output
    assert funnel(json.loads((out / "stats.json").read_text())) == (2, 2, 2)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_only_a_post_is_a_request(report, write_log, line, method):
    other = line("192.0.2.1", at(3), f"{method} {FORM} HTTP/1.1", 303, 0)
    lines = [*visit(line, "192.0.2.1", posts=0), other]
    _, stats = report(write_log(lines))
    assert funnel(stats) == (1, 1, 0)


def test_csv_has_the_request_tables(report, write_log, line, tmp_path):
    result, _ = report(write_log(visit(line, "192.0.2.1", referrer="https://www.google.nl/")))
    assert result.exit_code == 0
    csv = (tmp_path / "out" / "conversion_sources.csv").read_text()
    assert csv.splitlines() == ["key,count,visits", "Google,1,1"]
    assert "conversions" in (tmp_path / "out" / "daily.csv").read_text().splitlines()[0]


def test_a_state_saved_before_requests_were_counted_still_loads(tmp_path, write_log, line):
    """Open days' pageview rows stored by an earlier version have no `kind` column."""
    import pandas as pd

    now = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    log = write_log([line("192.0.2.1", now, "GET / HTTP/1.1")])
    out, state = tmp_path / "out", tmp_path / "state"
    run = ["report", str(log), "--state", str(state), "--out", str(out), "--no-goaccess"]
    assert CliRunner().invoke(cli, run).exit_code == 0
    stored = state / "open-pageviews.parquet"
    pd.read_parquet(stored).drop(columns="kind").to_parquet(stored, index=False)
    with open(log, "a") as f:
        f.write(line("192.0.2.1", now + dt.timedelta(minutes=1), "GET /contact/ HTTP/1.1"))
    result = CliRunner().invoke(cli, run)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["pageviews"], stats["visits"], stats["conversions"]) == (2, 1, 0)
