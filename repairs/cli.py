"""`repairs`: run the form handler, and the owner's commands for requests and privacy rights."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from repairs import settings as repairs_settings
from repairs import store
from repairs.validation import REQUIRED, check_field
from shop.site import LANGUAGES

EDITABLE = (*store.PERSONAL_FIELDS, "lang")


@click.group()
def cli() -> None:
    """The repair-request handler and the owner's tools. The database is $REPAIRS_DB."""


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


@contextlib.contextmanager
def _database() -> Iterator[sqlite3.Connection]:
    try:
        path = repairs_settings.load_db_path()
        conn = store.connect(path)
    except repairs_settings.SettingsError as e:
        raise _fail(str(e)) from None
    except (sqlite3.Error, OSError) as e:
        raise _fail(f"cannot open the database {path}: {e}") from None
    try:
        yield conn
    except store.NotFound as e:
        raise _fail(str(e)) from None
    except sqlite3.Error as e:
        raise _fail(f"database error: {e}") from None
    finally:
        conn.close()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--site",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also serve this built site (a one-process local preview).",
)
@click.option(
    "--mail-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write mails as .eml files into this folder instead of sending them by SMTP.",
)
def serve(host: str, port: int, site: Path | None, mail_dir: Path | None) -> None:
    """Run the handler under uvicorn (one worker: one writer per SQLite file).

    GET /api/health answers 200, or 503 with the reason, for an uptime monitor. If the
    database writer cannot recover, the process exits with status 70 (systemd restarts it).

    \b
    Example:
      REPAIRS_DB=repairs.sqlite3 REPAIRS_SMTP_HOST=localhost REPAIRS_SMTP_TLS=none \\
        repairs serve --host 127.0.0.1 --port 8001
    """
    from repairs.app import create_app, run

    try:
        settings = repairs_settings.load(mail_dir=mail_dir)
        store.connect(settings.db_path).close()
    except repairs_settings.SettingsError as e:
        raise _fail(str(e)) from None
    except (sqlite3.Error, OSError) as e:
        raise _fail(f"cannot open the database {settings.db_path}: {e}") from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if settings.mail_dir is not None:
        click.echo(f"Mails go to the folder {settings.mail_dir.resolve()} (one .eml file each).")
    else:
        click.echo(f"Mails go to SMTP {settings.smtp_host}:{settings.smtp_port}.")
    click.echo(f"Repair requests are stored in {settings.db_path.resolve()}.")
    if site is not None:
        click.echo(f"Site and form: http://{host}:{port}/")
    run(create_app(settings, site), host, port)


@cli.command("list")
@click.option("--status", type=click.Choice(store.STATUSES), help="Only requests with this status.")
def list_(status: str | None) -> None:
    """List repair requests.

    \b
    Example:
      repairs list --status new
    """
    with _database() as conn:
        rows = store.list_requests(conn, status)
    if not rows:
        click.echo("No repair requests" + (f" with status {status}." if status else "."))
        return
    click.echo(f"{'REF':<12}  {'CREATED':<10}  {'STATUS':<17}  {'NAME':<24}  DEVICE")
    for row in rows:
        name = "(erased)" if row["erased_at"] else row["name"]
        failed = f"  [{row['failed_mails']} mail(s) failed]" if row["failed_mails"] else ""
        click.echo(
            f"{row['ref']:<12}  {row['created_at'][:10]:<10}  {row['status']:<17}  "
            f"{_cut(name, 24):<24}  {_cut(row['device'] or '', 30)}{failed}"
        )


@cli.command()
@click.argument("ref")
def show(ref: str) -> None:
    """Show one request with its mails.

    \b
    Example:
      repairs show R-2026-0042
    """
    with _database() as conn:
        row = store.get_request(conn, ref)
        mails = store.outbox_of(conn, row["id"])
    for key, value in store.as_dict(row).items():
        if key == "id":
            continue
        text = "" if value is None else str(value)
        click.echo(f"{key + ':':<13} {text.replace(chr(10), chr(10) + ' ' * 14)}")
    for m in mails:
        if m["sent_at"]:
            state = f"sent {m['sent_at']}"
        elif m["failed_at"]:
            state = f"FAILED {m['failed_at']} ({m['last_error']})"
        else:
            state = "queued" + (f", last error: {m['last_error']}" if m["last_error"] else "")
        kind = m["kind"] + (f" ({m['detail']})" if m["detail"] else "")
        click.echo(f"mail:         {kind}: {state}, {m['attempts']} attempt(s)")


@cli.command()
@click.argument("ref")
@click.argument("status", type=click.Choice(store.STATUSES))
@click.option("--notify", is_flag=True, help="Mail the customer the new status.")
def status(ref: str, status: str, notify: bool) -> None:
    """Set a request's status; --notify mails the customer.

    \b
    Example:
      repairs status R-2026-0042 ready --notify
    """
    with _database() as conn, store.transaction(conn):
        row = store.set_status(conn, ref, status, notify)
    click.echo(f"{row['ref']}: status {status}.")
    if notify:
        click.echo("Status mail to the customer queued; the running handler sends it.")


@cli.command()
@click.option("--email", required=True, help="The person's e-mail address.")
def export(email: str) -> None:
    """Print as JSON everything held about one person (right of access and portability).

    \b
    Example:
      repairs export --email klant@example.nl > export.json
    """
    with _database() as conn:
        rows = store.requests_of(conn, email)
        requests = []
        for row in rows:
            record = store.as_dict(row)
            record["mails"] = [dict(m) for m in store.outbox_of(conn, row["id"])]
            del record["id"]
            requests.append(record)
    out = {"email": email, "exported_at": store.now_iso(), "repair_requests": requests}
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


@cli.command()
@click.argument("ref")
@click.argument("field", type=click.Choice(EDITABLE))
@click.argument("value")
def correct(ref: str, field: str, value: str) -> None:
    """Correct one field of a request (right to rectification).

    \b
    Example:
      repairs correct R-2026-0042 phone "06 12345678"
    """
    if field == "lang":
        if value not in LANGUAGES:
            raise _fail(f"lang must be {' or '.join(LANGUAGES)}")
        cleaned = value
    else:
        cleaned, error = check_field(field, value, "en")
        if error:
            raise _fail(f"{field}: {error}")
        if not cleaned and field in REQUIRED:
            raise _fail(f"{field} is required and cannot be empty")
    with _database() as conn, store.transaction(conn):
        row = store.correct(conn, ref, field, cleaned)
    click.echo(f"{row['ref']}: {field} is now {cleaned!r}.")


@cli.command()
@click.option("--email", required=True, help="The person's e-mail address.")
@click.option("--yes", is_flag=True, help="Really erase; there is no undo.")
def erase(email: str, yes: bool) -> None:
    """Erase a person's data from the database file and the outbox (right to erasure).

    Run it again if it stopped before the file was scrubbed (the database was busy): it
    finishes the earlier erasure although no request matches any more.

    \b
    Example:
      repairs erase --email klant@example.nl --yes
    """
    if not yes:
        raise _fail("erase cannot be undone; add --yes to erase the data of " + email)
    with _database() as conn:
        with store.transaction(conn):
            try:
                rows = store.requests_of(conn, email)
            except store.NotFound:
                if not store.scrub_pending(conn):
                    raise
                rows = []
            store.erase_ids(conn, [row["id"] for row in rows])
        if store.scrub_pending(conn):
            store.scrub_file(conn)
    if not rows:
        click.echo(f"No requests from {email} are held; finished scrubbing an earlier erasure.")
        return
    refs = ", ".join(row["ref"] for row in rows)
    click.echo(f"Erased the personal data of {len(rows)} request(s) from {email}: {refs}.")


@cli.command()
@click.argument("address")
def unsubscribe(address: str) -> None:
    """Withdraw newsletter consent for an address (objection to direct marketing).

    \b
    Example:
      repairs unsubscribe klant@example.nl
    """
    with _database() as conn, store.transaction(conn):
        changed = store.unsubscribe(conn, address)
    if changed:
        click.echo(f"{address} no longer gets the newsletter ({changed} request(s) updated).")
    else:
        click.echo(f"{address} was not subscribed to the newsletter; nothing changed.")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be erased.")
def purge(dry_run: bool) -> None:
    """Erase personal data of requests closed, or left open, longer than shop.toml allows.

    Closed requests go [privacy] closed_request_retention_months after closing; requests never
    closed go open_request_retention_months after their last change. Also finishes an earlier
    erase or purge that could not scrub the file.

    \b
    Example (run it daily from cron or a systemd timer):
      repairs purge
    """
    from shop import config as shop_config

    try:
        privacy = shop_config.load().privacy
    except shop_config.ConfigError as e:
        raise _fail(str(e)) from None
    now = datetime.now(UTC)
    closed_months = privacy.closed_request_retention_months
    open_months = privacy.open_request_retention_months
    closed_cutoff = store.months_before(now, closed_months)
    open_cutoff = store.months_before(now, open_months)
    with _database() as conn:
        with store.transaction(conn):
            closed = store.closed_before(conn, closed_cutoff)
            left_open = store.open_untouched_before(conn, open_cutoff)
            if not dry_run:
                store.erase_ids(conn, [row["id"] for row in [*closed, *left_open]])
        if not dry_run and store.scrub_pending(conn):
            store.scrub_file(conn)
    verb = "Would erase" if dry_run else "Erased"
    for rows, what in [
        (closed, f"closed before {closed_cutoff.date()} ({closed_months} months)"),
        (left_open, f"left open since before {open_cutoff.date()} ({open_months} months)"),
    ]:
        refs = ": " + ", ".join(row["ref"] for row in rows) if rows else ""
        click.echo(f"{verb} the personal data of {len(rows)} request(s) {what}{refs}.")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
