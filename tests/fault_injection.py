"""Faults for the handler's tests, made with real parts: another process holding a database
lock, an SMTP server (aiosmtpd) that defers, refuses, drops or stalls, a small tmpfs that
fills up, and (run as a script) `repairs serve` with a writer that breaks on cue.

    python tests/fault_injection.py serve --host 127.0.0.1 --port 8001
      a form whose name is "Boom" makes the insert raise; "Break" also closes the writer's
      connection, so its ROLLBACK fails; "Fatal" does that and makes reopening fail too.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from support import SMTPSink

HOLD_SCRIPT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute(sys.argv[2])
conn.execute("SELECT count(*) FROM requests").fetchone()
print("holding", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


class DatabaseHold:
    """Another process inside a transaction on `db` until release(): by default it holds the
    write lock (BEGIN IMMEDIATE); with begin="BEGIN" it holds a read snapshot."""

    def __init__(self, db: Path, begin: str = "BEGIN IMMEDIATE") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_SCRIPT, str(db), begin],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "holding", f"could not take the lock: {line!r}"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class FaultySink(SMTPSink):
    """An SMTP server whose answer to each DATA is decided by `fault(message_number, envelope)`:
    None accepts; "451"/"554"... answers that code; "drop" closes the connection without an
    answer; "stall" answers nothing for `stall_seconds`, then drops. Only accepted mail is kept.
    `on_accept(envelope)` runs before the 250 goes out.
    """

    def __init__(
        self,
        fault: Callable[[int, object], str | None],
        stall_seconds: float = 4.0,
        on_accept: Callable[[object], None] | None = None,
    ) -> None:
        super().__init__()
        self.fault = fault
        self.stall_seconds = stall_seconds
        self.on_accept = on_accept
        self.data_commands = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        fault = self.fault(self.data_commands, envelope)
        if fault in ("drop", "stall"):
            if fault == "stall":
                await asyncio.sleep(self.stall_seconds)
            server.transport.close()
            return "421 closing"  # never reaches the client: the connection is gone
        if fault:
            return f"{fault} fault injected"
        if self.on_accept is not None:
            self.on_accept(envelope)
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root, as in CI); skips the test where the
    machine does not allow mounting."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until the file system is full; returns it (delete to undo)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:g} s")
        time.sleep(0.05)


# --- `repairs serve` with a writer that breaks on cue -------------------------------------------


def _break_the_writer() -> None:
    import sqlite3

    from repairs import store, writer

    insert_requests, connect = store.insert_requests, store.connect
    broken = {"reopen": False}

    def faulty_insert(conn, forms):
        names = {form.name for form in forms}
        if names & {"Break", "Fatal"}:
            broken["reopen"] = "Fatal" in names
            conn.close()  # the ROLLBACK that follows fails as well
        if names & {"Boom", "Break", "Fatal"}:
            raise RuntimeError("fault injected into the writer")
        return insert_requests(conn, forms)

    def faulty_connect(path):
        if broken["reopen"]:
            raise sqlite3.OperationalError("unable to open database file (fault injected)")
        return connect(path)

    store.insert_requests = faulty_insert
    store.connect = faulty_connect
    assert writer.store is store


if __name__ == "__main__":
    _break_the_writer()
    from repairs.cli import cli

    cli()
