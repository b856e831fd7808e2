"""Deliver the outbox: a background task that sends due mails and retries with backoff.

Order per mail: send, then mark it sent through the writer (committed). A restart resumes from
whatever is unsent. The one window for a duplicate: the process dies after the SMTP server's
250 and before the UPDATE commits; that mail goes out again (at-least-once), with the same
Message-ID so mail clients can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import sqlite3
import time
from email.message import EmailMessage
from pathlib import Path

from repairs import mail, store
from repairs.settings import Settings
from repairs.writer import Writer

log = logging.getLogger("repairs.outbox")
POLL_SECONDS = 2.0
FIRST_RETRY_SECONDS = 1.0
# At most MAILS_PER_ROUND mails per ROUND_SECONDS (20/s): far above a shop's needs and gentle
# on its mail provider; under a flood of requests the CPU stays with accepting them while the
# outbox catches up afterwards.
MAILS_PER_ROUND = 20
ROUND_SECONDS = 1.0


def backoff(attempts: int, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failure: 1, 2, 4, ... up to `cap`."""
    return min(cap, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))


class PermanentFailure(Exception):
    """The server refused the mail for good (5xx); retrying will not help."""


class TemporaryFailure(Exception):
    """The server deferred this one mail (4xx); try it again later."""


class FolderTransport:
    """Writes each mail as an .eml file (demo and tests); one file per outbox row, so idempotent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> FolderTransport:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        pass

    def send(self, outbox_id: int, msg: EmailMessage) -> None:
        mail.write_eml(self.folder / f"{outbox_id:06d}.eml", msg)


class SMTPTransport:
    """One SMTP session for a round of mails."""

    def __init__(self, settings: Settings, timeout: float = 20.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SMTPTransport:
        self.smtp = mail.open_smtp(self.settings, self.timeout)
        return self

    def __exit__(self, *exc) -> None:
        assert self.smtp is not None
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()

    def send(self, outbox_id: int, msg: EmailMessage) -> None:
        assert self.smtp is not None
        try:
            self.smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            code = min(code for code, _ in e.recipients.values())
            failure = PermanentFailure if code >= 500 else TemporaryFailure
            raise failure(f"recipient refused ({code})") from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
            failure = PermanentFailure if e.smtp_code >= 500 else TemporaryFailure
            raise failure(f"refused ({e.smtp_code})") from None


def transport_for(settings: Settings) -> FolderTransport | SMTPTransport:
    if settings.mail_dir is not None:
        return FolderTransport(settings.mail_dir)
    return SMTPTransport(settings)


def deliver_due(settings: Settings, writer: Writer, reader: sqlite3.Connection) -> int:
    """Send every mail that is due now (blocking; runs in a worker thread); returns how many."""
    rows = store.due_mail(reader, time.time(), MAILS_PER_ROUND)
    if not rows:
        return 0
    sent = done = 0
    try:
        with transport_for(settings) as transport:
            for row in rows:
                sent += _deliver_one(settings, writer, transport, row)
                done += 1
    except (smtplib.SMTPException, OSError) as e:
        # Server unreachable or gone mid-round: the rest of this round waits for a retry.
        log.warning(
            "mail server unavailable (%s); %d mails wait", type(e).__name__, len(rows) - done
        )
        for row in rows[done:]:
            _retry_later(settings, writer, row, f"{type(e).__name__}: {e}")
    return sent


def _deliver_one(settings, writer: Writer, transport, row) -> bool:
    oid = row["outbox_id"]
    try:
        msg = mail.compose(row, settings)
    except (ValueError, TypeError) as e:  # a message we cannot build would block the queue
        reason = f"compose: {type(e).__name__}"
        log.error("mail %d (%s, %s) cannot be composed: %s", oid, row["kind"], row["ref"], reason)
        writer.call(lambda conn: store.mark_failed(conn, oid, reason))
        return False
    try:
        transport.send(oid, msg)
    except PermanentFailure as e:
        log.error("mail %d (%s, %s) refused for good: %s", oid, row["kind"], row["ref"], e)
        reason = str(e)
        writer.call(lambda conn: store.mark_failed(conn, oid, reason))
        return False
    except TemporaryFailure as e:
        log.warning("mail %d (%s, %s) deferred: %s", oid, row["kind"], row["ref"], e)
        _retry_later(settings, writer, row, str(e))
        return False
    writer.call(lambda conn: store.mark_sent(conn, oid))
    log.info("mail %d (%s, %s) sent", oid, row["kind"], row["ref"])
    return True


def _retry_later(settings: Settings, writer: Writer, row, error: str) -> None:
    oid, attempts = row["outbox_id"], row["attempts"] + 1
    when = time.time() + backoff(attempts, settings.retry_max_seconds)
    writer.call(lambda conn: store.mark_retry(conn, oid, when, error))


async def deliver_forever(
    settings: Settings, writer: Writer, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    """The background task: a round whenever woken (new mail) or the next retry is due."""
    reader = await asyncio.to_thread(store.connect, settings.db_path)
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await asyncio.to_thread(deliver_due, settings, writer, reader)
                due = await asyncio.to_thread(store.next_due, reader)
                await asyncio.to_thread(store.checkpoint, reader)
            except Exception:  # whatever went wrong in one round, keep delivering
                log.exception("outbox round failed")
                due = None
            await asyncio.sleep(max(0.0, started + ROUND_SECONDS - time.monotonic()))
            wait = POLL_SECONDS if due is None else min(POLL_SECONDS, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)
            wake.clear()
    finally:
        reader.close()
