"""`analytics summary`: the owner's weekly (or monthly) mail, sent over real SMTP or written as .eml."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from support import ROOT, free_port

from analytics.cli import cli
from analytics.report import Formatter
from analytics.summary import counted, figures, period_before
from analytics.texts import SUMMARY

CET = dt.timezone(dt.timedelta(hours=1))
MONDAY = "2026-11-30"  # the summary of week 48 (23 – 29 November) against week 47
FORM = "/api/repair-request"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=CET)


@pytest.fixture
def two_weeks(write_log, line):
    """Week 47: 2 visitors, 1 request, 2 404s. Week 48: 4 visitors, 2 requests, a new referrer,
    26 404s."""
    lines = [
        line("192.0.2.1", at(17, 10), "GET / HTTP/1.1", referrer="https://www.google.nl/"),
        line("192.0.2.2", at(17, 11), "GET /reparatie-aanvragen/ HTTP/1.1"),
        line("192.0.2.2", at(17, 11, 2), f"POST {FORM} HTTP/1.1", 303, 0),
        *[line("192.0.2.2", at(18, 9), "GET /oud/ HTTP/1.1", 404) for _ in range(2)],
    ]
    for i in range(1, 5):
        ip = f"198.51.100.{i}"
        referrer = "https://buurtwijzer.nl/reparaties" if i == 1 else "-"
        lines += [
            line(ip, at(24, 10 + i), "GET /diensten/ HTTP/1.1", referrer=referrer),
            line(ip, at(24, 10 + i, 1), "GET /reparatie-aanvragen/ HTTP/1.1"),
        ]
        if i <= 2:
            lines.append(line(ip, at(24, 10 + i, 2), f"POST {FORM} HTTP/1.1", 303, 0))
        else:  # refused: invalid input, rate limit
            lines.append(line(ip, at(24, 10 + i, 2), f"POST {FORM} HTTP/1.1", 422 + i, 0))
    lines += [line("198.51.100.9", at(25, 3), "GET /wp-oud/ HTTP/1.1", 404) for _ in range(26)]
    return write_log(lines)


def run(*args, env=None):
    return CliRunner().invoke(cli, ["summary", *map(str, args)], env=env)


def mail_env(**values) -> dict:
    env = {"REPAIRS_SMTP_HOST": "", "REPAIRS_MAIL_DIR": "", "REPAIRS_DB": ""}
    return {**env, **values}


def parts(msg):
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


@pytest.mark.parametrize(
    ("today", "period", "expected"),
    [
        ("2026-11-30", "week", ("2026-11-23", "2026-11-29")),  # a Monday
        ("2026-11-29", "week", ("2026-11-16", "2026-11-22")),  # a Sunday: that week is not over
        ("2027-01-01", "week", ("2026-12-21", "2026-12-27")),
        ("2026-11-30", "month", ("2026-10-01", "2026-10-31")),
        ("2026-12-01", "month", ("2026-11-01", "2026-11-30")),
        ("2027-01-05", "month", ("2026-12-01", "2026-12-31")),
        ("2028-03-01", "month", ("2028-02-01", "2028-02-29")),
    ],
)
def test_the_last_full_period(today, period, expected):
    start, end = period_before(dt.date.fromisoformat(today), period)
    assert (start.isoformat(), end.isoformat()) == expected


@pytest.mark.parametrize(
    ("now", "before", "lang", "change", "direction"),
    [
        (125, 100, "nl", "▲ +25%", "up"),
        (80, 100, "en", "▼ −20%", "down"),
        (1004, 1000, "en", "= 0%", "same"),
        (0, 0, "nl", "= 0%", "same"),
        (5, 0, "nl", "nieuw", "up"),
        (5, 0, "en", "new", "up"),
        (3, None, "en", "–", "same"),  # no counts for the period before
    ],
)
def test_comparison_with_the_period_before(now, before, lang, change, direction):
    previous = {} if before is None else {"visitors": before, "pageviews": 0, "conversions": 0}
    current = {"visitors": now, "pageviews": 0, "conversions": 0}
    (visitors, *_) = figures(current, previous, Formatter(lang), SUMMARY[lang])
    assert (visitors["change"], visitors["direction"]) == (change, direction)
    assert visitors["before"] == ("–" if before is None else Formatter(lang).int(before))


def test_sent_over_smtp_to_the_shop(two_weeks, smtp_sink):
    env = mail_env(
        REPAIRS_SMTP_HOST="127.0.0.1",
        REPAIRS_SMTP_PORT=str(smtp_sink.port),
        REPAIRS_SMTP_TLS="none",
    )
    result = run(two_weeks, "--today", MONDAY, env=env)
    assert result.exit_code == 0, result.output
    assert "summary sent to info@itfixe.example" in result.output
    (msg,) = smtp_sink.wait_for(1)
    assert smtp_sink.envelopes[0].rcpt_tos == ["info@itfixe.example"]
    assert msg["To"] == "info@itfixe.example"
    assert msg["From"] == "ITfixe <info@itfixe.example>"
    assert msg["Subject"] == (
        "ITfixe: week 48 (23 – 29 november 2026): 4 bezoekers, 2 reparatieaanvragen"
    )
    text, html = parts(msg)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Bezoekers 4 (ervoor 2, ▲ +100%)" in lines
    assert "Paginaweergaven 8 (ervoor 2, ▲ +300%)" in lines
    assert "Reparatieaanvragen via de site 2 (ervoor 1, ▲ +100%)" in lines
    assert "50,0% van de 4 bezoeken eindigde in een aanvraag." in lines
    assert "Het volledige rapport: https://www.itfixe.example/stats/" in lines
    soup = BeautifulSoup(html, "html.parser")
    figures_table = soup.find("table")
    cells = [td.get_text(strip=True) for td in figures_table.select("tbody tr")[2].find_all("td")]
    assert cells == ["Reparatieaanvragen via de site", "2", "1", "▲ +100%"]
    # Nothing to load, nothing to run; one link, to the report.
    assert not soup.select("script, img, link, iframe, object, style")
    assert [a["href"] for a in soup.select("a")] == ["https://www.itfixe.example/stats/"]
    assert not re.search(r"\bsrc=|url\(", html)
    # No address, not even a truncated one: only aggregates.
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", text + html)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "nl",
            [
                "Nieuw in de top 5 van verwijzende sites: buurtwijzer.nl (1 bezoek).",
                "Veel meer ‘niet gevonden’ (404): 26, tegen 2 ervoor. Meest gevraagd: /wp-oud/",
            ],
        ),
        (
            "en",
            [
                "New in the top 5 referring sites: buurtwijzer.nl (1 visit).",
                "Many more ‘not found’ (404): 26, against 2 before. Most asked: /wp-oud/",
            ],
        ),
    ],
)
def test_written_to_the_mail_dir_with_what_stands_out(two_weeks, tmp_path, lang, expected):
    folder = tmp_path / "mail"
    result = run(two_weeks, "--today", MONDAY, "--lang", lang, "--mail-dir", folder, env=mail_env())
    assert result.exit_code == 0, result.output
    (eml,) = folder.glob("*.eml")
    assert eml.name == "summary-week-2026-11-23.eml"
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text, html = parts(msg)
    for note in expected:
        assert f"- {note}" in text
        assert note in BeautifulSoup(html, "html.parser").get_text()
    assert BeautifulSoup(html, "html.parser").html["lang"] == lang
    sources = "Waar bezoekers vandaan kwamen" if lang == "nl" else "Where visitors came from"
    assert sources in text


def test_a_month_and_a_period_without_data(two_weeks, tmp_path):
    folder = tmp_path / "mail"
    result = run(two_weeks, "--today", "2026-11-03", "--period", "month", "--mail-dir", folder)
    assert result.exit_code == 0, result.output
    msg = message_from_bytes(next(folder.glob("*.eml")).read_bytes(), policy=policy.default)
    assert "oktober 2026" in msg["Subject"]
    assert "Draait de nachtelijke statistiek nog?" in parts(msg)[0]


def test_from_the_state_alone_as_the_timer_runs_it(two_weeks, tmp_path):
    state, folder = tmp_path / "state", tmp_path / "mail"
    report = ["report", two_weeks, "--state", state, "--out", tmp_path / "out", "--no-goaccess"]
    assert CliRunner().invoke(cli, list(map(str, report))).exit_code == 0
    result = run("--state", state, "--today", MONDAY, "--mail-dir", folder, env=mail_env())
    assert result.exit_code == 0, result.output
    msg = message_from_bytes(next(folder.glob("*.eml")).read_bytes(), policy=policy.default)
    assert "4 bezoekers, 2 reparatieaanvragen" in msg["Subject"]


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        ([], {}, 2, "give at least one LOG"),
        (["LOG", "missing.log", "--mail-dir", "."], {}, 1, "missing.log: file not found"),
        (["LOG"], mail_env(), 1, "REPAIRS_SMTP_HOST is not set"),
        (["LOG", "--period", "year"], {}, 2, "'year' is not one of 'week', 'month'"),
        (["LOG", "--today", "30-11-2026"], {}, 2, "does not match the format"),
        (
            ["LOG", "--today", MONDAY],
            mail_env(
                REPAIRS_SMTP_HOST="127.0.0.1", REPAIRS_SMTP_PORT="PORT", REPAIRS_SMTP_TLS="none"
            ),
            1,
            "summary not delivered (127.0.0.1:",
        ),
    ],
)
def test_bad_input_says_what_is_wrong(two_weeks, tmp_path, monkeypatch, args, env, code, message):
    monkeypatch.chdir(tmp_path)
    args = [str(two_weeks) if a == "LOG" else a for a in args]
    env = {k: str(free_port()) if v == "PORT" else v for k, v in env.items()}
    result = run(*args, env=env)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.eml"))


def test_the_timer_mails_it_on_monday_morning_from_the_nightly_counts():
    systemd = ROOT / "deploy" / "systemd"
    timer = (systemd / "analytics-summary.timer").read_text().splitlines()
    assert "OnCalendar=Mon *-*-* 07:30" in timer
    unit = set((systemd / "analytics-summary.service").read_text().splitlines())
    stats = (systemd / "analytics-stats.service").read_text()
    assert "--state /var/lib/itfixe-stats/state" in stats
    assert {
        "ExecStart=/opt/itfixe/.venv/bin/analytics summary --state /var/lib/itfixe-stats/state",
        "EnvironmentFile=/etc/itfixe/repairs.env",  # the handler's SMTP settings
        "RuntimeDirectory=itfixe-analytics",
        "StateDirectory=itfixe-stats",
    } <= unit


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [("nl", 1, "1 bezoeker"), ("nl", 1200, "1.200 bezoekers"), ("en", 0, "0 visitors")],
)
def test_one_or_more(lang, n, expected):
    assert counted(SUMMARY[lang], "n_visitors", n, Formatter(lang)) == expected
