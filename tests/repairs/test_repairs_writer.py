"""The writer thread: group commit, reference numbers, and a failing job that harms no other."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from repairs import store
from repairs.validation import RepairForm
from repairs.writer import Writer


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
