"""SQLite storage: repair requests, reference numbers, the mail outbox, and the owner's queries.

Every function takes an open connection (autocommit mode; callers group writes in transactions),
so the writer thread, the outbox and the admin commands share one set of statements.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from repairs.validation import FIELD_LIMITS, RepairForm
from shop import site

SHOP_TZ = ZoneInfo(site.TIME_ZONE)
PERSONAL_FIELDS = tuple(FIELD_LIMITS)
STATUSES = ("new", "received", "diagnosing", "waiting_for_parts", "repairing", "ready", "closed")
CLOSED = "closed"
# Mails to the owner: when one of these fails, there is nobody left to tell but the log.
OWNER_MAILS = ("owner_notice", "failure_notice")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    lang TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    erased_at TEXT,
    name TEXT, company TEXT, address TEXT, email TEXT, phone TEXT, device TEXT, description TEXT,
    newsletter INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_email ON requests (email COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS ref_counters (year INTEGER PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,            -- owner_notice, confirmation, status, failure_notice
    detail TEXT NOT NULL DEFAULT '',  -- the new status; for failure_notice the failed mail
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,  -- unix time
    sent_at TEXT,
    failed_at TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt) WHERE sent_at IS NULL AND failed_at IS NULL;
-- One row while an erasure is not yet scrubbed out of the file (see scrub_file).
CREATE TABLE IF NOT EXISTS scrub_pending (id INTEGER PRIMARY KEY CHECK (id = 1), since TEXT NOT NULL);
-- Written by the health check: proves the database takes writes.
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at TEXT NOT NULL);
"""


class NotFound(LookupError):
    """No repair request with that reference or address."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (and create) the database: WAL, synchronous=FULL, secure_delete, foreign keys."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk (the WAL is fsynced) before the visitor sees "thank you".
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def next_refs(conn: sqlite3.Connection, year: int, count: int = 1) -> list[str]:
    """Reserve `count` reference numbers R-YYYY-NNNN, numbered per year (more digits after 9999)."""
    (last,) = conn.execute(
        "INSERT INTO ref_counters (year, last) VALUES (?, ?) "
        "ON CONFLICT (year) DO UPDATE SET last = last + excluded.last RETURNING last",
        (year, count),
    ).fetchone()
    return [f"R-{year}-{n:04d}" for n in range(last - count + 1, last + 1)]


REQUEST_COLUMNS = ("ref", "lang", "created_at", "updated_at", *PERSONAL_FIELDS, "newsletter")
# SQLite allows 32766 bound values per statement; 13 per request.
INSERT_CHUNK = 1000


def insert_requests(conn: sqlite3.Connection, forms: list[RepairForm]) -> list[str]:
    """Store requests with their owner notice and customer confirmation; returns the references.

    A handful of statements for the whole batch, whatever its size: the writer thread gives up
    Python's GIL around every SQLite call, and each hand-back costs the event loop time.
    """
    now = now_iso()
    refs = next_refs(conn, datetime.now(SHOP_TZ).year, len(forms))
    row = "(" + ",".join("?" * len(REQUEST_COLUMNS)) + ")"
    for start in range(0, len(forms), INSERT_CHUNK):
        chunk = list(zip(refs[start:], forms[start : start + INSERT_CHUNK], strict=False))
        values = [
            v
            for ref, form in chunk
            for v in (ref, form.lang, now, now, *_personal(form), form.newsletter)
        ]
        conn.execute(
            f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES "
            + ",".join([row] * len(chunk)),
            values,
        )
        conn.execute(
            "INSERT INTO outbox (request_id, kind, created_at) "
            "SELECT r.id, k.kind, r.created_at FROM requests r, "
            "(SELECT 1 AS n, 'owner_notice' AS kind UNION ALL SELECT 2, 'confirmation') k "
            f"WHERE r.ref IN ({','.join('?' * len(chunk))}) ORDER BY r.id, k.n",
            [ref for ref, _ in chunk],
        )
    return refs


def _personal(form: RepairForm) -> tuple[str, ...]:
    return tuple(getattr(form, f) for f in PERSONAL_FIELDS)


def insert_request(conn: sqlite3.Connection, form: RepairForm) -> str:
    """Store one request with its two mails; returns the reference."""
    return insert_requests(conn, [form])[0]


def enqueue_mail(conn: sqlite3.Connection, request_id: int, kind: str, detail: str = "") -> None:
    conn.execute(
        "INSERT INTO outbox (request_id, kind, detail, created_at) VALUES (?,?,?,?)",
        (request_id, kind, detail, now_iso()),
    )


# --- the outbox -------------------------------------------------------------------------------

OUTBOX_COLUMNS = "o.id AS outbox_id, o.kind, o.detail, o.attempts, r.*"


def due_mail(conn: sqlite3.Connection, now: float, limit: int = 50) -> list[sqlite3.Row]:
    """Unsent mails whose next attempt is due, oldest first, joined with their request."""
    return conn.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox o JOIN requests r ON r.id = o.request_id "
        "WHERE o.sent_at IS NULL AND o.failed_at IS NULL AND o.next_attempt <= ? "
        "ORDER BY o.next_attempt, o.id LIMIT ?",
        (now, limit),
    ).fetchall()


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the next unsent mail is due (unix time), or None if the outbox is empty."""
    row = conn.execute(
        "SELECT min(next_attempt) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    ).fetchone()
    return row[0]


def mark_sent(conn: sqlite3.Connection, outbox_id: int, sent_at: str | None = None) -> None:
    conn.execute(
        "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
        (sent_at or now_iso(), outbox_id),
    )


def mark_retry(conn: sqlite3.Connection, outbox_id: int, next_attempt: float, error: str) -> None:
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
        (next_attempt, error[:500], outbox_id),
    )


def mark_failed(conn: sqlite3.Connection, outbox_id: int, error: str) -> None:
    """Give up on a mail; a failed mail to the customer queues a notice to the owner."""
    now = now_iso()
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, last_error = ? WHERE id = ?",
        (now, error[:500], outbox_id),
    )
    conn.execute(
        "INSERT INTO outbox (request_id, kind, detail, created_at) "
        "SELECT o.request_id, 'failure_notice', o.kind || ': ' || o.last_error, ? "
        "FROM outbox o JOIN requests r ON r.id = o.request_id "
        f"WHERE o.id = ? AND o.kind NOT IN ({','.join('?' * len(OWNER_MAILS))}) "
        "AND r.erased_at IS NULL",
        (now, outbox_id, *OWNER_MAILS),
    )


def oldest_waiting_mail(conn: sqlite3.Connection) -> str | None:
    """created_at of the oldest mail neither sent nor failed (ISO, UTC), or None."""
    row = conn.execute(
        "SELECT min(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    ).fetchone()
    return row[0]


def prove_writable(conn: sqlite3.Connection) -> None:
    """A real (tiny) write, for the health check."""
    conn.execute("INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?)", (now_iso(),))


# --- the owner's queries ----------------------------------------------------------------------


def list_requests(conn: sqlite3.Connection, status: str | None = None) -> list[sqlite3.Row]:
    """Requests with `failed_mails`: how many of their mails could not be sent."""
    sql = (
        "SELECT r.*, (SELECT count(*) FROM outbox o WHERE o.request_id = r.id "
        "AND o.failed_at IS NOT NULL) AS failed_mails FROM requests r"
    )
    args: tuple = ()
    if status:
        sql += " WHERE r.status = ?"
        args = (status,)
    return conn.execute(sql + " ORDER BY r.id", args).fetchall()


def get_request(conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM requests WHERE ref = ?", (ref.strip().upper(),)).fetchone()
    if row is None:
        raise NotFound(f"no repair request {ref}")
    return row


def outbox_of(conn: sqlite3.Connection, request_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, kind, detail, created_at, attempts, sent_at, failed_at, last_error "
        "FROM outbox WHERE request_id = ? ORDER BY id",
        (request_id,),
    ).fetchall()


def requests_of(conn: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    rows = conn.execute(
        "SELECT * FROM requests WHERE email = ? COLLATE NOCASE ORDER BY id", (email.strip(),)
    ).fetchall()
    if not rows:
        raise NotFound(f"no repair requests from {email}")
    return rows


def set_status(conn: sqlite3.Connection, ref: str, status: str, notify: bool) -> sqlite3.Row:
    """Change the status (closing sets closed_at); with `notify`, queue a mail to the customer."""
    row = get_request(conn, ref)
    if row["erased_at"]:
        raise NotFound(f"repair request {row['ref']} was erased")
    now = now_iso()
    closed_at = now if status == CLOSED else None
    conn.execute(
        "UPDATE requests SET status = ?, updated_at = ?, closed_at = ? WHERE id = ?",
        (status, now, closed_at, row["id"]),
    )
    if notify:
        enqueue_mail(conn, row["id"], "status", status)
    return get_request(conn, ref)


def correct(conn: sqlite3.Connection, ref: str, field: str, value: str) -> sqlite3.Row:
    row = get_request(conn, ref)
    if row["erased_at"]:
        raise NotFound(f"repair request {row['ref']} was erased")
    # `field` is checked against PERSONAL_FIELDS/"lang" by the caller; never user SQL.
    assert field in (*PERSONAL_FIELDS, "lang")
    conn.execute(
        f"UPDATE requests SET {field} = ?, updated_at = ? WHERE id = ?",
        (value, now_iso(), row["id"]),
    )
    return get_request(conn, ref)


def unsubscribe(conn: sqlite3.Connection, email: str) -> int:
    """Withdraw newsletter consent on every request from `email`; returns how many changed."""
    requests_of(conn, email)
    cur = conn.execute(
        "UPDATE requests SET newsletter = 0, updated_at = ? "
        "WHERE email = ? COLLATE NOCASE AND newsletter = 1",
        (now_iso(), email.strip()),
    )
    return cur.rowcount


def erase_ids(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Blank the personal fields of these requests and drop their mails from the outbox."""
    blanks = ", ".join(f"{f} = NULL" for f in PERSONAL_FIELDS)
    now = now_iso()
    for request_id in ids:
        conn.execute("DELETE FROM outbox WHERE request_id = ?", (request_id,))
        conn.execute(
            f"UPDATE requests SET {blanks}, newsletter = 0, erased_at = ?, updated_at = ? "
            "WHERE id = ?",
            (now, now, request_id),
        )
    if ids:
        conn.execute("INSERT OR IGNORE INTO scrub_pending (id, since) VALUES (1, ?)", (now,))


def closed_before(conn: sqlite3.Connection, cutoff: datetime) -> list[sqlite3.Row]:
    """Requests closed before `cutoff` whose personal data is still held."""
    return conn.execute(
        "SELECT * FROM requests WHERE status = ? AND closed_at < ? AND erased_at IS NULL",
        (CLOSED, cutoff.isoformat(timespec="seconds")),
    ).fetchall()


def open_untouched_before(conn: sqlite3.Connection, cutoff: datetime) -> list[sqlite3.Row]:
    """Requests never closed and not changed since `cutoff` whose personal data is still held."""
    return conn.execute(
        "SELECT * FROM requests WHERE status != ? AND updated_at < ? AND erased_at IS NULL",
        (CLOSED, cutoff.isoformat(timespec="seconds")),
    ).fetchall()


def scrub_pending(conn: sqlite3.Connection) -> bool:
    """True if an earlier erasure has not been scrubbed out of the file yet."""
    return conn.execute("SELECT 1 FROM scrub_pending").fetchone() is not None


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy committed WAL pages into the database file without waiting for anyone."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


# Checkpoint attempts of a scrub, ~0.2 s each: a reader has about 10 s to leave the WAL.
SCRUB_ATTEMPTS = 50


def scrub_file(conn: sqlite3.Connection) -> None:
    """Push erased content out of the WAL into the (zeroed, secure_delete) database file.

    TRUNCATE empties the WAL only when no reader is inside it (the running handler's outbox
    reads briefly), so retry until SQLite reports the checkpoint was not blocked. Until it
    succeeds the scrub_pending row stays, so running `erase` or `purge` again finishes it.
    """
    # TRUNCATE waits in the busy handler for readers: briefly per attempt, not 10 s each.
    (busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout=100")
    try:
        for _ in range(SCRUB_ATTEMPTS):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                break
            time.sleep(0.1)
        else:
            raise sqlite3.OperationalError("the database stayed busy; run the command again")
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    # The erased text is out of the WAL now; the marker's own deletion holds nothing personal.
    conn.execute("DELETE FROM scrub_pending")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month `months` earlier (clamped to the month's last day)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            day -= 1


def as_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    if "newsletter" in out:
        out["newsletter"] = bool(out["newsletter"])
    return out
