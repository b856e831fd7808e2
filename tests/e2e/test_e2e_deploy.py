"""The whole deployed path on loopback: the repo's nginx config serving the built site and proxying
the form to `repairs serve`, a real SMTP server, Chromium walking from the home page to the
thank-you page, then `analytics report` on the logs nginx wrote, and the owner reading that
report at /stats/ behind nginx with the password."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from analytics_report.rendering import (
    CSP_VIOLATIONS,
    CSP_WATCH,
    assert_dashboard_rendered,
    assert_report_rendered,
)
from e2e.harness import (
    DESKTOP_UA,
    Nginx,
    browser_for_host,
    load_render,
    run_handler,
    run_nginx,
    security_headers,
    unit_commands,
)
from handlers import BIN, Served
from support import ROOT, SMTPSink, free_port

from shop import config
from shop.site import page_path

pytestmark = pytest.mark.e2e

HOST = urlsplit(config.load(ROOT / "shop.toml").site.url).hostname
# The browser reaches nginx by the shop's real host name (port 80 mapped to nginx on loopback).
ORIGIN = f"http://{HOST}"
CUSTOMER = {
    "name": "Jan de Vries",
    "email": "jan@klant.example",
    "phone": "06 12345678",
    "device": "Laptop, HP Pavilion 15",
    "description": "Start niet meer op na een update.",
}
CLIENT_IP = "127.0.0.1"
MASKED_IP = "127.0.0.0"
LOGS = {"combined": "access.log", "anonymised": "access-anonymised.log"}


@dataclass
class Visit:
    ref: str
    thanks_text: str
    request_urls: list[str]
    cookies: list
    console_errors: list[str]
    headers: dict[str, list[dict]]  # path -> its first response's headers (duplicates kept)
    mails: list[EmailMessage]
    handler: Served
    nginx: Nginx
    tmp: Path


@pytest.fixture(scope="module")
def visit(built_site, tmp_path_factory, playwright) -> Visit:
    """Deploy everything, walk the site once as a visitor, and keep what was observed."""
    tmp = tmp_path_factory.mktemp("deploy")
    sink = SMTPSink()
    sink.start()
    try:
        with (
            run_handler(tmp, smtp_port=sink.port, site_origin=ORIGIN) as handler,
            run_nginx(tmp, built_site, handler_port=handler.port) as nginx,
            browser_for_host(playwright, HOST, nginx.port) as browser,
        ):
            context = browser.new_context(user_agent=DESKTOP_UA)
            try:
                page = context.new_page()
                urls: list[str] = []
                errors: list[str] = []  # a CSP violation shows up here
                headers: dict[str, list[dict]] = {}
                page.on("request", lambda r: urls.append(r.url))
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on(
                    "response",
                    lambda r: headers.setdefault(urlsplit(r.url).path, r.headers_array()),
                )
                assert page.goto(ORIGIN + "/").status == 200
                page.click(f'nav a[href="{page_path("repair")}"]')
                page.wait_for_url(ORIGIN + page_path("repair"))
                for field, value in CUSTOMER.items():
                    page.fill(f'form [name="{field}"]', value)
                page.click('form [type="submit"]')
                page.wait_for_url(re.compile(r".*/api/repair-request/thanks\?.*"))
                ref = parse_qs(urlsplit(page.url).query)["ref"][0]
                thanks_text = page.inner_text("main")
                cookies = context.cookies()
            finally:
                context.close()
            mails = list(sink.wait_for(2))
    finally:
        sink.stop()
    return Visit(ref, thanks_text, urls, cookies, errors, headers, mails, handler, nginx, tmp)


def test_visitor_lands_on_thank_you_page_with_reference(visit):
    assert re.fullmatch(r"R-\d{4}-\d{4,}", visit.ref)
    assert visit.ref in visit.thanks_text


def test_request_is_in_the_database(visit):
    shown = visit.handler.admin("show", visit.ref)
    assert shown.returncode == 0, shown.stderr
    for value in (CUSTOMER["name"], CUSTOMER["email"], CUSTOMER["description"]):
        assert value in shown.stdout
    listed = visit.handler.admin("list")
    assert listed.returncode == 0, listed.stderr
    assert visit.ref in listed.stdout


def test_owner_notice_and_customer_confirmation_arrived(visit):
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in visit.mails}
    assert set(by_recipient) == {"owner@itfixe.example", CUSTOMER["email"]}
    notice = by_recipient["owner@itfixe.example"]
    assert notice["Reply-To"].addresses[0].addr_spec == CUSTOMER["email"]
    assert CUSTOMER["description"] in notice.get_body(("plain",)).get_content()
    confirmation = by_recipient[CUSTOMER["email"]]
    assert visit.ref in confirmation["Subject"] + confirmation.get_body(("plain",)).get_content()


def test_browser_saw_no_cookie_no_other_origin_no_error(visit):
    assert visit.cookies == []
    assert not any(h["name"].lower() == "set-cookie" for hs in visit.headers.values() for h in hs)
    # Chromium ignores (and says so) the handler's Cross-Origin-Opener-Policy on plain HTTP,
    # which only this loopback test uses; every other console error counts.
    errors = [e for e in visit.console_errors if "origin was untrustworthy" not in e]
    assert errors == []
    origins = {f"{u.scheme}://{u.netloc}" for u in map(urlsplit, visit.request_urls)}
    assert origins == {ORIGIN}
    # The walk really went through nginx to the handler and back.
    paths = iter(urlsplit(u).path for u in visit.request_urls)
    walk = ["/", page_path("repair"), "/api/repair-request", "/api/repair-request/thanks"]
    assert all(step in paths for step in walk)  # in this order


@pytest.mark.parametrize(
    "path", ["/", page_path("repair"), "/theme/css/style.css", "/api/repair-request/thanks"]
)
def test_responses_carry_the_security_headers_once(visit, path):
    """From the snippet, exactly once each: on pages, theme assets and the handler's pages."""
    got = visit.headers[path]
    for name, value in security_headers().items():
        values = [h["value"] for h in got if h["name"].lower() == name.lower()]
        assert values == [value], f"{path}: {name}"
    names = {h["name"].lower() for h in got}
    assert {"content-security-policy", "referrer-policy", "x-content-type-options"} <= names


def test_form_post_answer_carries_the_security_headers(visit):
    got = {h["name"].lower(): h["value"] for h in visit.headers["/api/repair-request"]}
    assert "content-security-policy" in got
    assert "form-action" in got["content-security-policy"]


def test_backup_unit_copies_the_database_and_the_copy_restores(visit, tmp_path):
    """What repairs-backup.service runs, on this database; then the copy is used as restored."""
    unit = ROOT / "deploy" / "systemd" / "repairs-backup.service"
    paths = {"/var/lib/repairs/repairs.sqlite3": visit.handler.env["REPAIRS_DB"]}
    paths["/var/backups/repairs"] = str(tmp_path)
    for argv in unit_commands(unit, paths):
        subprocess.run(argv, check=True, capture_output=True)
    (backup,) = tmp_path.glob("repairs-*.sqlite3")
    assert re.fullmatch(r"repairs-\d{4}-\d{2}-\d{2}\.sqlite3", backup.name)
    restored = tmp_path / "restored" / "repairs.sqlite3"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    env = {**visit.handler.env, "REPAIRS_DB": str(restored)}
    shown = subprocess.run(
        [str(BIN / "repairs"), "show", visit.ref], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert CUSTOMER["email"] in shown.stdout


@pytest.fixture(scope="module")
def reports(visit) -> dict[str, Path]:
    """The nightly analytics-stats.service command on each access log nginx wrote."""
    unit = ROOT / "deploy" / "systemd" / "analytics-stats.service"
    out = {}
    for kind, name in LOGS.items():
        # The unit reads every access*.log* of the folder: give it one log at a time.
        logs, stats = visit.tmp / f"logs-{kind}", visit.tmp / f"stats-{kind}"
        logs.mkdir()
        shutil.copyfile(visit.nginx.log(name), logs / name)
        # Under stats-KIND: the state (lib) and the report nginx serves (www).
        paths = {"/var/log/nginx/itfixe": str(logs), "/var/lib/itfixe-stats": str(stats / "lib")}
        paths[load_render().STATS_ROOT] = str(stats / "www")
        paths["/opt/itfixe/.venv/bin"] = str(BIN)
        (command,) = unit_commands(unit, paths)
        # What systemd's RuntimeDirectory=itfixe-analytics gives the unit (/run/itfixe-analytics).
        env = {**os.environ, "RUNTIME_DIRECTORY": str(visit.tmp / f"run-{kind}")}
        run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        assert run.returncode == 0, run.stderr
        out[kind] = stats / "www"
    return out


@pytest.mark.parametrize("kind", sorted(LOGS))
def test_hash_keys_live_in_the_runtime_directory_not_the_state(visit, reports, kind):
    (keys,) = (visit.tmp / f"run-{kind}").iterdir()
    assert keys.name.startswith("day-keys-") and keys.stat().st_mode & 0o077 == 0
    day_keys = [bytes.fromhex(k) for k in json.loads(keys.read_text()).values()]
    assert day_keys
    for path in (p for p in reports[kind].parent.rglob("*") if p.is_file()):
        data = path.read_bytes()
        data += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else b""
        for key in day_keys:
            assert key not in data and key.hex().encode() not in data.lower(), path


def test_nginx_wrote_the_full_ip_only_to_the_combined_log(visit):
    combined = visit.nginx.log(LOGS["combined"]).read_text().splitlines()
    anonymised = visit.nginx.log(LOGS["anonymised"]).read_text().splitlines()
    assert len(combined) == len(anonymised) >= 4
    assert all(line.startswith(f"{CLIENT_IP} - ") for line in combined)
    assert all(line.startswith(f"{MASKED_IP} - ") for line in anonymised)
    # Apart from the address, the two logs are the same combined lines.
    assert [a.split(" ", 1)[1] for a in anonymised] == [c.split(" ", 1)[1] for c in combined]


@pytest.mark.parametrize("kind", sorted(LOGS))
def test_stats_count_the_visit_as_pageviews_of_one_visitor(visit, reports, kind):
    stats = json.loads((reports[kind] / "stats.json").read_text())
    lines = visit.nginx.log(LOGS[kind]).read_text().splitlines()
    assert stats["requests"] == len(lines)
    # Home page, form page, thank-you page; the CSS, the icon and the POST are no pageviews.
    assert stats["pageviews"] == 3
    assert stats["visitors"] == 1
    assert stats["bots"] == stats["malformed"] == 0
    pages = (reports[kind] / "pages.csv").read_text()
    assert page_path("repair") in pages


@pytest.mark.parametrize("kind", sorted(LOGS))
def test_no_full_ip_and_no_reference_in_any_output(visit, reports, kind):
    """Report and state: the address only truncated, the thank-you page's query dropped."""
    report = reports[kind]
    files = [p for p in report.parent.rglob("*") if p.is_file()]
    assert {"stats.json", "index.html", "goaccess.html"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        assert CLIENT_IP.encode() not in data, path
        assert visit.ref.encode() not in data, path
    assert MASKED_IP in (report / "goaccess.js").read_text()  # the dashboard's data


OWNER, PASSWORD = "owner", "lang genoeg wachtwoord 42"


@pytest.fixture(scope="module")
def stats_site(built_site, reports, tmp_path_factory) -> Iterator[Nginx]:
    """nginx serving the nightly report at /stats/, with a password set by the real command."""
    tmp = tmp_path_factory.mktemp("stats-site")
    passwords = tmp / "stats.passwd"
    command = [sys.executable, str(ROOT / "deploy" / "render.py"), "stats-password"]
    command += ["--file", str(passwords), "--user", OWNER]
    run = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with run_nginx(
        tmp,
        built_site,
        handler_port=free_port(),
        access_logs=("combined",),
        stats_root=str(reports["combined"]),
        stats_passwords=str(passwords),
    ) as nginx:
        yield nginx


def test_stats_password_file_holds_a_sha512_crypt_hash(stats_site):
    passwords = stats_site.conf_dir.parent / "stats.passwd"
    (line,) = passwords.read_text().splitlines()
    user, hashed = line.split(":", 1)
    assert user == OWNER and PASSWORD not in line
    assert re.fullmatch(r"\$6\$rounds=\d+\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}", hashed)
    assert passwords.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("path", ["/stats/", "/stats/goaccess.html", "/stats/stats.json"])
def test_stats_need_the_password(stats_site, path):
    with httpx.Client(base_url=stats_site.url) as http:
        anonymous = http.get(path)
        wrong = http.get(path, auth=(OWNER, "not the password at all"))
        owner = http.get(path, auth=(OWNER, PASSWORD))
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    assert owner.status_code == 200
    for response in (anonymous, owner):
        assert response.headers["x-robots-tag"] == "noindex, nofollow"
        assert response.headers["cache-control"] == "private, no-store"
        csp = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp
        # Only GoAccess's dashboard may compile its templates (analytics/headers.py).
        assert ("'unsafe-eval'" in csp) == path.endswith("goaccess.html")


@pytest.mark.parametrize("page", ["", "goaccess.html"])
def test_owner_sees_the_rendered_report_in_chromium(stats_site, playwright, page):
    """Through nginx by the site's host name, logged in: no CSP violation, styled, drawn."""
    origin = f"http://{HOST}"
    with browser_for_host(playwright, HOST, stats_site.port) as browser:
        context = browser.new_context(http_credentials={"username": OWNER, "password": PASSWORD})
        context.add_init_script(CSP_WATCH)
        errors: list[str] = []
        try:
            tab = context.new_page()
            tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
            tab.on("pageerror", lambda e: errors.append(str(e)))
            assert tab.goto(f"{origin}/stats/{page}").status == 200
            tab.wait_for_timeout(300)  # the dashboard's scripts
            (assert_dashboard_rendered if page else assert_report_rendered)(tab)
            assert tab.evaluate(CSP_VIOLATIONS) == []
        finally:
            context.close()
    assert errors == []


@pytest.mark.parametrize("kind", sorted(LOGS))
def test_stats_count_the_sent_form_as_a_repair_request(reports, kind):
    """The browser's POST answered 303, in nginx's log: one visit that sent a request."""
    stats = json.loads((reports[kind] / "stats.json").read_text())
    assert (stats["visits"], stats["form_visits"], stats["conversions"]) == (1, 1, 1)
    assert stats["conversion_rate"] == 1.0
    tables = stats["tables"]
    assert tables["conversion_entry_pages"]["rows"] == [{"key": "/", "count": 1, "visits": 1}]
    assert tables["conversion_sources"]["rows"] == [{"key": "(direct)", "count": 1, "visits": 1}]


def test_summary_unit_mails_the_owner_from_the_nightly_counts(visit, reports):
    """analytics-summary.service's command on the state the nightly unit wrote, over SMTP."""
    stats = json.loads((reports["combined"] / "stats.json").read_text())
    day = dt.date.fromisoformat(stats["period"]["end"])
    monday_after = day + dt.timedelta(days=7 - day.weekday())
    unit = ROOT / "deploy" / "systemd" / "analytics-summary.service"
    paths = {"/var/lib/itfixe-stats": str(visit.tmp / "stats-combined" / "lib")}
    paths["/opt/itfixe/.venv/bin"] = str(BIN)
    (command,) = unit_commands(unit, paths)
    sink = SMTPSink()
    sink.start()
    try:
        env = {
            **os.environ,
            "RUNTIME_DIRECTORY": str(visit.tmp / "run-combined"),
            "REPAIRS_SMTP_HOST": "127.0.0.1",
            "REPAIRS_SMTP_PORT": str(sink.port),
            "REPAIRS_SMTP_TLS": "none",
            "REPAIRS_MAIL_DIR": "",
        }
        run = subprocess.run(
            [*command, "--today", monday_after.isoformat()],
            capture_output=True, text=True, cwd=ROOT, env=env,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        (mail,) = sink.wait_for(1)
    finally:
        sink.stop()
    assert mail["To"] == config.load(ROOT / "shop.toml").business.email
    assert mail["Subject"].endswith(": 1 bezoeker, 1 reparatieaanvraag")
    text = mail.get_body(("plain",)).get_content()
    assert CLIENT_IP not in text and MASKED_IP not in text
