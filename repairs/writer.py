"""The single writer thread: group commit of everything queued, then each caller gets its result.

Requests arriving while a commit is in flight queue up and go into the next transaction together,
so one fsync (synchronous=FULL) covers many requests; nobody's result is released before the
COMMIT that holds their write has returned.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from repairs import store
from repairs.validation import RepairForm

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any] | RepairForm
Target = asyncio.Future | concurrent.futures.Future
Item = tuple[Job, Target]
Outcome = tuple[Target, Any, BaseException | None]

log = logging.getLogger("repairs.writer")
_STOP: list = []  # recognised by identity


class Writer:
    """Owns the one write connection; `insert` (event loop) and `call` (threads) queue work."""

    def __init__(self, db_path: Path, max_batch: int = 512) -> None:
        self._db_path = db_path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="repairs-writer", daemon=True)
        self._ready = concurrent.futures.Future()
        self._pending: list[Item] = []

    def start(self) -> None:
        """Start the thread; raises here if the database cannot be opened."""
        self._thread.start()
        self._ready.result()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    async def insert(self, form: RepairForm) -> str:
        """Store a repair request (batched with all others queued); returns its reference."""
        return await self._submit((form, asyncio.get_running_loop().create_future()))

    def _submit(self, item: Item) -> asyncio.Future:
        # Requests handled in the same turn of the event loop go to the thread as one list:
        # one wake-up of the writer (and one GIL hand-over) instead of one per request.
        self._pending.append(item)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        return item[1]

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._queue.put(pending)

    def call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job(conn)` in the next group transaction, from a worker thread (the outbox)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put([(job, future)])
        return future.result()

    def _loop(self) -> None:
        try:
            conn = store.connect(self._db_path)
            # Checkpoints (copying the WAL into the database, with an fsync) would stall the
            # commits queued behind them; the outbox thread runs them between rounds instead.
            # This limit (~40 MB of WAL) is only the safety net should that thread stop.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
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
                    _settle(_commit(conn, items))
                if any(part is _STOP for part in batch):
                    return
        finally:
            conn.close()


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
    forms = [(form, future) for form, future in items if isinstance(form, RepairForm)]
    jobs = [(job, future) for job, future in items if not isinstance(job, RepairForm)]
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
    except sqlite3.Error as e:
        log.error("commit of %d writes failed: %s", len(items), type(e).__name__)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [(future, None, e) for _, future in items]
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
