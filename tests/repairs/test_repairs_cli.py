"""The owner's `repairs` commands (CliRunner), and erasure down to the database file's bytes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write_shop_toml

from repairs import store
from repairs.cli import cli
from repairs.validation import RepairForm


def add(db: Path, **fields) -> str:
    values = {
        "lang": "nl",
        "name": "Jan Jansen",
        "email": "jan@example.nl",
        "description": "Scherm kapot",
        "device": "Laptop",
        **fields,
    }
    conn = store.connect(db)
    try:
        with store.transaction(conn):
            return store.insert_request(conn, RepairForm(**values))
    finally:
        conn.close()


def query(db: Path, sql: str, args=()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "repairs.sqlite3"
    monkeypatch.setenv("REPAIRS_DB", str(path))
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_list_and_show(db):
    ref1 = add(db)
    ref2 = add(db, name="Piet Peters", email="piet@example.nl", device="Printer")
    run("status", ref2, "ready")

    listing = run("list")
    assert listing.exit_code == 0
    assert ref1 in listing.output and ref2 in listing.output and "Piet Peters" in listing.output
    ready = run("list", "--status", "ready")
    assert ref2 in ready.output and ref1 not in ready.output
    assert "No repair requests with status closed" in run("list", "--status", "closed").output

    shown = run("show", ref1)
    assert shown.exit_code == 0
    assert "Scherm kapot" in shown.output and "owner_notice: queued" in shown.output


@pytest.mark.parametrize(
    "args",
    [
        ["show", "R-2000-0001"],
        ["status", "R-2000-0001", "ready"],
        ["correct", "R-2000-0001", "name", "X"],
        ["export", "--email", "nobody@example.nl"],
        ["erase", "--email", "nobody@example.nl", "--yes"],
        ["unsubscribe", "nobody@example.nl"],
    ],
)
def test_unknown_refs_and_addresses_fail_clearly(db, args):
    add(db)
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no repair request")
    assert "Traceback" not in result.output


def test_status_with_notify_queues_a_mail(db):
    ref = add(db)
    result = run("status", ref, "ready", "--notify")
    assert result.exit_code == 0 and f"{ref}: status ready" in result.output
    assert query(db, "SELECT status FROM requests") == [("ready",)]
    assert ("status", "ready") in query(db, "SELECT kind, detail FROM outbox")
    assert run("status", ref, "broken").exit_code == 2  # not a status


def test_export_gives_everything_about_one_person(db):
    ref = add(db, phone="+31 6 12345678")
    add(db, email="other@example.nl", name="Other")
    result = run("export", "--email", "JAN@example.nl")
    data = json.loads(result.output)
    (request,) = data["repair_requests"]
    assert request["ref"] == ref and request["phone"] == "+31 6 12345678"
    assert [m["kind"] for m in request["mails"]] == ["owner_notice", "confirmation"]
    assert "Other" not in result.output


def test_correct_checks_the_new_value(db):
    ref = add(db)
    assert run("correct", ref, "phone", "0612345678").exit_code == 0
    assert query(db, "SELECT phone FROM requests") == [("+31 6 12345678",)]
    bad = run("correct", ref, "email", "not-an-address")
    assert bad.exit_code == 1 and "valid e-mail" in bad.output
    assert run("correct", ref, "name", "").exit_code == 1
    assert run("correct", ref, "status", "x").exit_code == 2  # not a field one corrects
    assert run("correct", ref, "lang", "en").exit_code == 0
    german = run("correct", ref, "lang", "de")
    assert german.exit_code == 1 and "lang must be nl or en" in german.output
    assert query(db, "SELECT lang FROM requests") == [("en",)]


def test_unsubscribe(db):
    add(db, newsletter=True)
    result = run("unsubscribe", "jan@example.nl")
    assert result.exit_code == 0 and "no longer gets the newsletter" in result.output
    assert query(db, "SELECT newsletter FROM requests") == [(0,)]
    assert "nothing changed" in run("unsubscribe", "jan@example.nl").output


def test_erase_needs_yes(db):
    add(db)
    result = run("erase", "--email", "jan@example.nl")
    assert result.exit_code == 1 and "--yes" in result.output
    assert query(db, "SELECT name FROM requests") == [("Jan Jansen",)]


@pytest.mark.parametrize(("months", "erased"), [(24, False), (1, True)])
def test_purge_follows_the_retention_in_shop_toml(db, tmp_path, monkeypatch, months, erased):
    toml = write_shop_toml(
        tmp_path / "shop.toml", privacy={"closed_request_retention_months": months}
    )
    monkeypatch.setenv("SHOP_CONFIG", str(toml))
    old, recent = add(db), add(db, email="new@example.nl")
    run("status", old, "closed")
    run("status", recent, "closed")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE requests SET closed_at = '2020-01-01T00:00:00+00:00' WHERE ref = ?", (old,)
        )
        conn.execute(
            "UPDATE requests SET closed_at = datetime('now', '-40 days') WHERE ref = ?", (recent,)
        )
    conn.close()

    result = run("purge")
    assert result.exit_code == 0
    assert f"({months} months)" in result.output
    names = dict(query(db, "SELECT ref, name FROM requests"))
    assert names[old] is None
    assert (names[recent] is None) == erased


def test_purge_erases_requests_left_open_too_long(db, tmp_path, monkeypatch):
    toml = write_shop_toml(tmp_path / "shop.toml", privacy={"open_request_retention_months": 6})
    monkeypatch.setenv("SHOP_CONFIG", str(toml))
    abandoned, busy, fresh = add(db), add(db, email="busy@example.nl"), add(db, email="new@e.nl")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE requests SET created_at = '2020-01-01T00:00:00+00:00', "
            "updated_at = '2020-01-01T00:00:00+00:00' WHERE ref IN (?, ?)",
            (abandoned, busy),
        )
    conn.close()
    run("status", busy, "waiting_for_parts")  # changed today: kept

    dry = run("purge", "--dry-run")
    assert "Would erase the personal data of 1 request(s) left open" in dry.output
    assert "(6 months): " + abandoned in dry.output
    result = run("purge")
    assert result.exit_code == 0, result.output
    names = dict(query(db, "SELECT ref, name FROM requests"))
    assert names == {abandoned: None, busy: "Jan Jansen", fresh: "Jan Jansen"}


@pytest.mark.parametrize("command", ["erase", "purge"])
def test_an_unfinished_scrub_is_finished_by_running_again(db, tmp_path, monkeypatch, command):
    """A reader in another process keeps the erased text in the WAL: the first run says so,
    and a second run, when no request matches any more, still scrubs the file."""
    from fault_injection import DatabaseHold

    toml = write_shop_toml(tmp_path / "shop.toml", privacy={"closed_request_retention_months": 1})
    monkeypatch.setenv("SHOP_CONFIG", str(toml))
    monkeypatch.setattr(store, "SCRUB_ATTEMPTS", 3)  # the reader stays: give up in 0.6 s, not 10
    ref = add(db, name="Zebulon Quaxworth", email="zebulon@example.org")
    run("status", ref, "closed")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE requests SET closed_at = '2020-01-01T00:00:00+00:00'")
    conn.close()
    args = ["erase", "--email", "zebulon@example.org", "--yes"] if command == "erase" else ["purge"]

    # The running handler keeps connections open (else closing the last one would checkpoint
    # the WAL by itself); another process reads while the first run tries to scrub.
    handler_connection = sqlite3.connect(db)
    handler_connection.execute("SELECT count(*) FROM requests").fetchone()
    reader = DatabaseHold(db, begin="BEGIN")
    try:
        first = run(*args)
    finally:
        reader.release()
    assert first.exit_code == 1 and "run the command again" in first.output
    assert query(db, "SELECT name FROM requests") == [(None,)]
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"Quaxworth" in raw  # still in the WAL

    again = run(*args)
    assert again.exit_code == 0, again.output
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"Quaxworth" not in raw
    assert run(*args).exit_code == (1 if command == "erase" else 0)  # nothing left to finish
    handler_connection.close()


def test_missing_settings_give_one_clear_line(monkeypatch):
    monkeypatch.delenv("REPAIRS_DB", raising=False)
    result = run("list")
    assert result.exit_code == 1 and result.output.startswith("Error: REPAIRS_DB is not set")
    monkeypatch.setenv("REPAIRS_DB", "x.sqlite3")
    monkeypatch.delenv("REPAIRS_SMTP_HOST", raising=False)
    monkeypatch.delenv("REPAIRS_MAIL_DIR", raising=False)
    served = run("serve")
    assert served.exit_code == 1 and "REPAIRS_SMTP_HOST is not set" in served.output
    monkeypatch.setenv("REPAIRS_SMTP_HOST", "localhost")
    monkeypatch.setenv("REPAIRS_SMTP_TLS", "ssl3")
    assert "REPAIRS_SMTP_TLS must be one of" in run("serve").output


def test_every_command_has_help_with_an_example():
    for name, command in cli.commands.items():
        assert command.help, name
        assert "Example" in command.help, name


def test_erase_leaves_no_trace_in_the_database_file(
    served_handler, smtp_sink, make_form, monkeypatch
):
    handler = served_handler
    secret = {
        "name": "Zebulon Quaxworth",
        "email": "zebulon.quaxworth@example.org",
        "description": "Xylofoonreparatie geheim 7788",
        "phone": "0201234567",
    }
    handler.post(make_form(**secret))
    handler.post(make_form(**secret, device="Tablet"))
    handler.post(make_form(name="Keep Me", email="keep@example.nl"))
    smtp_sink.wait_for(6)
    monkeypatch.setenv("REPAIRS_DB", str(handler.db))

    result = run("erase", "--email", "Zebulon.Quaxworth@example.org", "--yes")  # server still up

    assert result.exit_code == 0, result.output
    assert "Erased the personal data of 2 request(s)" in result.output
    raw = b"".join(p.read_bytes().lower() for p in handler.db.parent.glob(handler.db.name + "*"))
    for needle in ("zebulon", "quaxworth", "xylofoonreparatie", "20 123 4567"):
        assert needle.encode() not in raw, needle
    assert b"keep@example.nl" in raw
    assert query(
        handler.db,
        "SELECT count(*) FROM outbox o JOIN requests r "
        "ON r.id = o.request_id WHERE r.erased_at IS NOT NULL",
    ) == [(0,)]


def test_status_notify_reaches_the_customer_through_the_running_handler(
    served_handler, smtp_sink, make_form, monkeypatch
):
    handler = served_handler
    response = handler.post(make_form(lang="en"), follow_redirects=False)
    ref = response.headers["location"].split("ref=")[1].split("&")[0]
    smtp_sink.wait_for(2)
    monkeypatch.setenv("REPAIRS_DB", str(handler.db))

    result = run("status", ref, "ready", "--notify")

    assert result.exit_code == 0 and "queued" in result.output
    mail = smtp_sink.wait_for(3)[2]
    assert mail["To"] == "jan@example.nl"
    assert mail["Subject"] == f"Repair {ref}: ready: you can collect your device"
    assert "Start niet meer" not in mail.get_content()
