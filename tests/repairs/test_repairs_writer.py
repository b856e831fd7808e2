"""The writer thread: group commit, reference numbers, and a failing job that harms no other."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from repairs import store
from repairs.validation import RepairForm
from repairs.writer import Writer, WriteRefused


@pytest.fixture
def writer(tmp_path):
    w = Writer(tmp_path / "repairs.sqlite3")
    w.start()
    yield w
    w.stop()


def run_async(make_coroutine):
    """asyncio.run in a thread of its own (Playwright's sync API may own this thread's loop)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=asyncio.run(make_coroutine())))
    thread.start()
    thread.join()
    return result["value"]


def form(n: int) -> RepairForm:
    return RepairForm(lang="nl", name=f"Klant {n}", email=f"k{n}@example.nl", description="x")


def test_concurrent_inserts_get_unique_consecutive_references(writer, tmp_path):
    async def burst():
        return await asyncio.gather(*(writer.insert(form(n)) for n in range(200)))

    refs = run_async(burst)
    numbers = sorted(int(ref.rsplit("-", 1)[1]) for ref in refs)
    assert numbers == list(range(1, 201))
    conn = sqlite3.connect(tmp_path / "repairs.sqlite3")
    assert conn.execute("SELECT count(*) FROM requests").fetchone() == (200,)
    assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (400,)
    conn.close()


def test_a_failing_job_does_not_undo_the_others(writer, tmp_path):
    def boom(conn):
        conn.execute("UPDATE ref_counters SET last = 999")
        raise RuntimeError("boom")

    results = {}

    def call(name, job):
        try:
            results[name] = writer.call(job)
        except RuntimeError as e:
            results[name] = e

    async def with_jobs():
        threads = [threading.Thread(target=call, args=("boom", boom))]
        threads += [
            threading.Thread(target=call, args=(n, lambda c, n=n: store.insert_request(c, form(n))))
            for n in range(5)
        ]
        for t in threads:
            t.start()
        ref = await writer.insert(form(99))
        for t in threads:
            t.join()
        return ref

    run_async(with_jobs)
    assert isinstance(results["boom"], RuntimeError)
    conn = sqlite3.connect(tmp_path / "repairs.sqlite3")
    assert conn.execute("SELECT count(*) FROM requests").fetchone() == (6,)
    assert conn.execute("SELECT last FROM ref_counters").fetchone() == (6,)
    conn.close()


def test_an_exception_or_a_failing_rollback_answers_the_callers_and_the_writer_goes_on(
    writer, monkeypatch
):
    """Not a database error (a bug, a closed connection): the callers get WriteRefused."""
    real_insert = store.insert_requests

    def faulty(conn, forms):
        if forms[0].name == "Klant 1":
            conn.close()  # so the ROLLBACK after the exception fails too
        if forms[0].name in ("Klant 0", "Klant 1"):
            raise RuntimeError("boom")
        return real_insert(conn, forms)

    monkeypatch.setattr(store, "insert_requests", faulty)

    async def one_by_one():
        outcomes = []
        for n in range(3):
            try:
                outcomes.append(await writer.insert(form(n)))
            except WriteRefused as e:
                outcomes.append(e)
        return outcomes

    refused_0, refused_1, ref = run_async(one_by_one)
    assert isinstance(refused_0, WriteRefused) and "boom" in str(refused_0)
    assert isinstance(refused_1, WriteRefused)
    assert ref.startswith("R-") and writer.dead is None


def test_a_writer_that_cannot_reopen_gives_up_and_refuses_everyone(tmp_path, monkeypatch):
    fatal = []
    w = Writer(tmp_path / "repairs.sqlite3", on_fatal=fatal.append)
    w.start()

    def broken(conn, forms):
        conn.close()
        monkeypatch.setattr(store, "connect", lambda path: (_ for _ in ()).throw(OSError("gone")))
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "insert_requests", broken)

    async def burst():
        return await asyncio.gather(*(w.insert(form(n)) for n in range(5)), return_exceptions=True)

    outcomes = run_async(burst)
    assert all(isinstance(o, WriteRefused) for o in outcomes)
    assert fatal and isinstance(w.dead, OSError)
    with pytest.raises(WriteRefused):
        w.call(lambda conn: None)  # at once, not after a timeout
    assert isinstance(run_async(burst)[0], WriteRefused)
    w.stop()
