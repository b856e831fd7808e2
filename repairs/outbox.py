"""Deliver the outbox: a background task that sends due mails and retries with backoff.

Each mail on its own: send it, then record the outcome through the writer. A mail the SMTP
server accepted is never sent again by this process: should the database refuse the record
(locked, disk full, read-only), the outcome waits in memory, is recorded first thing in each
round, and no further mail goes out until the database takes it. The one window for a
duplicate is a crash after the server's 250 and before the record commits: that mail goes out
once more (at-least-once), with the same Message-ID so mail clients can tell.

Refused for good (5xx, an address no server can take) or still failing after
`settings.mail_attempts` tries, a mail ends `failed` with its reason, and the owner gets a
notice about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    """The server refused the mail for good (5xx), or it cannot be sent at all."""


class TemporaryFailure(Exception):
    """This one mail did not go out this time (4xx, connection lost); try it again later."""


class ServerUnavailable(Exception):
    """No session with the mail server (down, refusing, login failed): every mail waits."""


class FolderTransport:
    """Writes each mail as an .eml file (demo and tests); one file per outbox row, so idempotent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> FolderTransport:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ServerUnavailable(f"mail folder: {e}") from None
        return self

    def __exit__(self, *exc) -> None:
        pass

    def send(self, outbox_id: int, msg: EmailMessage) -> None:
        try:
            mail.write_eml(self.folder / f"{outbox_id:06d}.eml", msg)
        except OSError as e:
            raise TemporaryFailure(f"{type(e).__name__}: {e}") from None


class SMTPTransport:
    """SMTP sessions for a round of mails: opened when the first mail goes, again after a drop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SMTPTransport:
        return self

    def __exit__(self, *exc) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None

    def _connect(self) -> smtplib.SMTP:
        try:
            return mail.open_smtp(self.settings, self.settings.smtp_timeout)
        except (smtplib.SMTPException, OSError) as e:
            raise ServerUnavailable(f"{type(e).__name__}: {e}") from None

    def send(self, outbox_id: int, msg: EmailMessage) -> None:
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            code = min(code for code, _ in e.recipients.values())
            raise self._refused(code, f"recipient refused ({code})") from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
            raise self._refused(e.smtp_code, f"refused ({e.smtp_code})") from None
        except smtplib.SMTPNotSupportedError as e:  # e.g. an address that needs SMTPUTF8
            self._drop()
            raise PermanentFailure(f"not supported by the server: {e}") from None
        except Exception as e:  # dropped mid-DATA, timed out, or unexpected: this mail waits
            self._drop()
            raise TemporaryFailure(f"{type(e).__name__}: {e}") from None

    def _refused(self, code: int, reason: str) -> Exception:
        if code == 421:  # the server closes the session: the next mail needs a new one
            self._drop()
        return PermanentFailure(reason) if code >= 500 else TemporaryFailure(reason)

    def _drop(self) -> None:
        """Close a session in an unknown state; the next mail opens a fresh one."""
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.close()
            self.smtp = None


def transport_for(settings: Settings) -> FolderTransport | SMTPTransport:
    if settings.mail_dir is not None:
        return FolderTransport(settings.mail_dir)
    return SMTPTransport(settings)


@dataclass(frozen=True)
class Outcome:
    """What happened to one mail, to be recorded in the outbox."""

    outbox_id: int
    record: Callable[[sqlite3.Connection], None]
    sent: bool = False


class Outbox:
    """Sends due mails; keeps outcomes the database could not take yet (see the module doc)."""

    def __init__(self, settings: Settings, writer: Writer) -> None:
        self.settings = settings
        self.writer = writer
        self.unrecorded: dict[int, Outcome] = {}

    def deliver_due(self, reader: sqlite3.Connection) -> int:
        """Send every mail that is due now (blocking; runs in a worker thread); returns how many."""
        if self.unrecorded and not self._record(list(self.unrecorded.values())):
            return 0  # the database takes no writes: send nothing whose outcome it cannot keep
        rows = store.due_mail(reader, time.time(), MAILS_PER_ROUND)
        rows = [row for row in rows if row["outbox_id"] not in self.unrecorded]
        sent = 0
        with transport_for(self.settings) as transport:
            for done, row in enumerate(rows):
                if self.writer.dead is not None:
                    break  # nothing could record the outcome: leave the mail for a restart
                try:
                    outcome = self._attempt(transport, row)
                except ServerUnavailable as e:
                    log.warning("mail server unavailable (%s); %d mails wait", e, len(rows) - done)
                    self._record([self._failed_once(r, str(e)) for r in rows[done:]])
                    break
                sent += outcome.sent
                if not self._record([outcome]):
                    break
        return sent

    def _attempt(self, transport, row: sqlite3.Row) -> Outcome:
        oid, what = row["outbox_id"], f"{row['kind']}, {row['ref']}"
        try:
            msg = mail.compose(row, self.settings)
        except Exception as e:  # a message we cannot build would fail the same way each time
            return self._failed(row, f"cannot compose: {type(e).__name__}: {e}")
        try:
            transport.send(oid, msg)
        except PermanentFailure as e:
            return self._failed(row, str(e))
        except TemporaryFailure as e:
            log.warning("mail %d (%s) not sent: %s", oid, what, e)
            return self._failed_once(row, str(e))
        log.info("mail %d (%s) sent", oid, what)
        sent_at = store.now_iso()
        return Outcome(oid, lambda conn: store.mark_sent(conn, oid, sent_at), sent=True)

    def _failed_once(self, row: sqlite3.Row, error: str) -> Outcome:
        """A retry after backoff, or `failed` once the attempts are used up."""
        attempts = row["attempts"] + 1
        if attempts >= self.settings.mail_attempts:
            return self._failed(row, f"gave up after {attempts} attempts: {error}")
        oid = row["outbox_id"]
        when = time.time() + backoff(attempts, self.settings.retry_max_seconds)
        return Outcome(oid, lambda conn: store.mark_retry(conn, oid, when, error))

    def _failed(self, row: sqlite3.Row, reason: str) -> Outcome:
        oid = row["outbox_id"]
        log.error("mail %d (%s, %s) failed for good: %s", oid, row["kind"], row["ref"], reason)
        return Outcome(oid, lambda conn: store.mark_failed(conn, oid, reason))

    def _record(self, outcomes: list[Outcome]) -> bool:
        """Record outcomes in one transaction; on failure keep them in memory. True if stored."""

        def record_all(conn: sqlite3.Connection) -> None:
            for outcome in outcomes:
                outcome.record(conn)

        try:
            self.writer.call(record_all)
        except Exception as e:
            log.error(
                "%d mail outcome(s) not recorded (%s: %s); kept until the database takes them",
                len(outcomes),
                type(e).__name__,
                e,
            )
            self.unrecorded.update((o.outbox_id, o) for o in outcomes)
            return False
        for outcome in outcomes:
            self.unrecorded.pop(outcome.outbox_id, None)
        return True


async def deliver_forever(outbox: Outbox, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """The background task: a round whenever woken (new mail) or the next retry is due."""
    reader = await asyncio.to_thread(store.connect, outbox.settings.db_path)
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await asyncio.to_thread(outbox.deliver_due, reader)
                due = await asyncio.to_thread(store.next_due, reader)
                await asyncio.to_thread(store.checkpoint, reader)
            except Exception:  # whatever went wrong in one round, keep delivering
                log.exception("outbox round failed")
                due = None
            # Pace the rounds, but a shutdown need not wait for the pause to end.
            with contextlib.suppress(TimeoutError):
                pause = max(0.0, started + ROUND_SECONDS - time.monotonic())
                await asyncio.wait_for(stop.wait(), timeout=pause)
            if stop.is_set():
                break
            wait = POLL_SECONDS if due is None else min(POLL_SECONDS, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)
            wake.clear()
    finally:
        reader.close()
