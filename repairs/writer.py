"""The single writer thread: group commit of everything queued, then each caller gets its result.

Requests arriving while a commit is in flight queue up and go into the next transaction together,
so one fsync (synchronous=FULL) covers many requests; nobody's result is released before the
COMMIT that holds their write has returned.

Every caller gets an answer in bounded time: a write that could not start within QUEUE_SECONDS
(the database is locked by someone else, say) is refused with WriteRefused, any error inside
a transaction is handed to its callers, and a writer that cannot get a working connection
again, or stays inside one transaction longer than STUCK_SECONDS, gives up for good: it answers
everyone still waiting and calls `on_fatal`, so the process exits and systemd restarts it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from repairs import store
from repairs.validation import RepairForm

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any] | RepairForm
Target = asyncio.Future | concurrent.futures.Future
# (job, future, deadline): the write must start by `deadline` (time.monotonic()) or is refused.
Item = tuple[Job, Target, float]
Outcome = tuple[Target, Any, BaseException | None]

log = logging.getLogger("repairs.writer")
_STOP: list = []  # recognised by identity
# SQLite waits this long for another process's write lock before a transaction gives up.
BUSY_TIMEOUT_MS = 5000
# A write that has not started this long after it was queued is refused (the caller says 503).
QUEUE_SECONDS = 10.0
# One transaction taking longer than this means the disk or the thread hangs: give up.
STUCK_SECONDS = 15.0


class WriteRefused(Exception):
    """The write did not happen: the database was busy or failing, or the writer has stopped."""


class Writer:
    """Owns the one write connection; `insert` (event loop) and `call` (threads) queue work."""

    def __init__(
        self,
        db_path: Path,
        max_batch: int = 512,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._db_path = db_path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="repairs-writer", daemon=True)
        self._ready = concurrent.futures.Future()
        self._pending: list[Item] = []
        self.on_fatal = on_fatal
        # Set once, when the writer gives up; guarded by _lock together with the queue's intake.
        self.dead: BaseException | None = None
        self._lock = threading.Lock()
        self._in_flight: list[Item] = []
        self._batch_started: float | None = None

    def start(self) -> None:
        """Start the thread; raises here if the database cannot be opened."""
        self._thread.start()
        self._ready.result()

    def stop(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    async def insert(self, form: RepairForm) -> str:
        """Store a repair request (batched with all others queued); returns its reference."""
        future = asyncio.get_running_loop().create_future()
        return await self._submit((form, future, time.monotonic() + QUEUE_SECONDS))

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job(conn)` in the next group transaction, from the event loop."""
        future = asyncio.get_running_loop().create_future()
        return await self._submit((job, future, time.monotonic() + QUEUE_SECONDS))

    def _submit(self, item: Item) -> asyncio.Future:
        # Requests handled in the same turn of the event loop go to the thread as one list:
        # one wake-up of the writer (and one GIL hand-over) instead of one per request.
        self._pending.append(item)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        return item[1]

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._enqueue(pending)

    def _enqueue(self, items: list[Item]) -> None:
        with self._lock:
            if self.dead is None:
                self._queue.put(items)
                return
        _settle([(future, None, _refused(self.dead)) for _, future, _ in items])

    def call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job(conn)` in the next group transaction, from a worker thread (the outbox).

        Raises WriteRefused (or the job's own exception); never waits much past QUEUE_SECONDS
        plus one transaction.
        """
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._enqueue([(job, future, time.monotonic() + QUEUE_SECONDS)])
        try:
            return future.result(timeout=QUEUE_SECONDS + STUCK_SECONDS + 5)
        except concurrent.futures.TimeoutError:
            raise WriteRefused("the writer did not answer in time") from None

    def stuck_for(self) -> float:
        """Seconds the current transaction has been running (0 when idle)."""
        started = self._batch_started
        return 0.0 if started is None else time.monotonic() - started

    def check(self) -> None:
        """Give up if one transaction hangs (called every second from the event loop)."""
        if self.dead is None and self.stuck_for() > STUCK_SECONDS:
            self._give_up(WriteRefused(f"a transaction hangs for over {STUCK_SECONDS:g} s"))

    # --- the thread ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = store.connect(self._db_path)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoints (copying the WAL into the database, with an fsync) would stall the
        # commits queued behind them; the outbox thread runs them between rounds instead.
        # This limit (~40 MB of WAL) is only the safety net should that thread stop.
        conn.execute("PRAGMA wal_autocheckpoint=10000")
        return conn

    def _loop(self) -> None:
        try:
            conn = self._open()
        except (sqlite3.Error, OSError) as e:
            self._ready.set_exception(e)
            return
        self._ready.set_result(None)
        try:
            while True:
                batch = [self._queue.get()]
                while sum(map(len, batch)) < self._max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                items = [item for part in batch if part is not _STOP for item in part]
                if items:
                    conn = self._write(conn, items)
                if any(part is _STOP for part in batch):
                    return
        except BaseException as e:  # no working connection, or a bug in this loop
            log.critical("the writer gives up: %s: %s", type(e).__name__, e)
            self._give_up(e)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _write(self, conn: sqlite3.Connection, items: list[Item]) -> sqlite3.Connection:
        """Commit `items`, answer every caller; returns the connection to go on with."""
        now = time.monotonic()
        live = [item for item in items if item[2] >= now]
        if len(live) < len(items):
            late = WriteRefused("the database did not take writes in time")
            _settle([(future, None, late) for _, future, deadline in items if deadline < now])
        if not live:
            return conn
        self._in_flight, self._batch_started = live, now
        try:
            outcomes = _commit(conn, live)
            failure = None
        except BaseException as e:  # not a database refusal: a bug or a broken connection
            log.exception("writing %d items failed", len(live))
            outcomes = [(future, None, _refused(e)) for _, future, _ in live]
            failure = e
        finally:
            self._in_flight, self._batch_started = [], None
        _settle(outcomes)
        return conn if failure is None else self._recover(conn)

    def _recover(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """A clean connection after a failure: roll back, or else open the database again."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return conn
        except Exception as e:
            log.error("rollback failed (%s); opening the database again", type(e).__name__)
        with contextlib.suppress(Exception):
            conn.close()
        return self._open()  # raises if the database cannot be opened: the writer gives up

    def _give_up(self, error: BaseException) -> None:
        """Refuse everything waiting and from now on; tell the owner of the process."""
        with self._lock:
            if self.dead is not None:
                return
            self.dead = error
        waiting = list(self._in_flight)
        with contextlib.suppress(queue.Empty):
            while True:
                part = self._queue.get_nowait()
                if part is not _STOP:
                    waiting += part
        _settle([(future, None, _refused(error)) for _, future, _ in waiting])
        if self.on_fatal is not None:
            self.on_fatal(error)


def _refused(cause: BaseException) -> WriteRefused:
    if isinstance(cause, WriteRefused):
        return cause
    refused = WriteRefused(f"{type(cause).__name__}: {cause}")
    refused.__cause__ = cause
    return refused


class _JobFailed(Exception):
    pass


def _commit(conn: sqlite3.Connection, items: list[Item]) -> list[Outcome]:
    """Everything in one transaction; if a job fails, each job alone so the rest still stand."""
    try:
        return _transaction(conn, items, isolate=False)
    except _JobFailed:
        inserts = [item for item in items if isinstance(item[0], RepairForm)]
        jobs = [[item] for item in items if not isinstance(item[0], RepairForm)]
        return [
            out for group in [inserts, *jobs] if group for out in _transaction(conn, group, True)
        ]


def _transaction(conn: sqlite3.Connection, items: list[Item], isolate: bool) -> list[Outcome]:
    """One transaction; a database error fails all of it. A failing ROLLBACK raises."""
    forms = [(form, future) for form, future, _ in items if isinstance(form, RepairForm)]
    jobs = [(job, future) for job, future, _ in items if not isinstance(job, RepairForm)]
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        if forms:
            refs = store.insert_requests(conn, [form for form, _ in forms])
            outcomes += [(future, ref, None) for (_, future), ref in zip(forms, refs, strict=True)]
        for job, future in jobs:
            try:
                outcomes.append((future, job(conn), None))
            except Exception as e:
                if not isolate:
                    raise _JobFailed from e
                conn.execute("ROLLBACK")
                return [(future, None, e)]
        conn.execute("COMMIT")
    except sqlite3.Error as e:  # busy, disk full, read-only: nothing of this transaction stands
        log.error("commit of %d writes failed: %s: %s", len(items), type(e).__name__, e)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [(future, None, _refused(e)) for _, future, _ in items]
    except _JobFailed:
        conn.execute("ROLLBACK")
        raise
    return outcomes


def _settle(outcomes: list[Outcome]) -> None:
    """Hand results over: one wake-up per event loop for the whole batch, not one per job."""
    per_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for future, result, error in outcomes:
        if isinstance(future, asyncio.Future):
            per_loop.setdefault(future.get_loop(), []).append((future, result, error))
        elif future.done():
            continue
        elif error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    for loop, items in per_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_in_loop, items)


def _settle_in_loop(items: list[Outcome]) -> None:
    for future, result, error in items:
        if future.done():  # the caller went away (client disconnected); the write still stands
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
