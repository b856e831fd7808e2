"""The repair-request handler under test, two ways with one interface (post, rows, client, stop):

- `Served`: `repairs serve` as a real process (uvicorn on a free loopback port), for what needs
  one: kill -9, restarts, the process's log, raw sockets, uvicorn's proxy headers, nginx in
  front, an installed wheel.
- `InProcess`: the same app under Starlette's TestClient (no uvicorn, no port), for pages,
  validation, headers and limits; its lifespan runs the real writer and outbox all the same.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
from support import ROOT, free_port, wait_for_port

BIN = Path(sys.executable).parent
FORM_PATH = "/api/repair-request"


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to a process this test started in its own group; SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class _Handler:
    """What both kinds share: the database and a client for the handler's URL."""

    db: Path
    url: str
    client: httpx.Client

    def post(self, data: dict | None, **kw) -> httpx.Response:
        """POST to the form's address; follows the 303 unless follow_redirects=False."""
        kw.setdefault("follow_redirects", True)
        return self.client.post(FORM_PATH, data=data, **kw)

    def rows(self, sql: str = "SELECT * FROM requests ORDER BY id", args=()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Served(_Handler):
    """`repairs serve` (or `command ... serve`) on a free loopback port, in its own process
    group. The environment is this one's without REPAIRS_* and SHOP_*, plus `env`."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        db: Path | None = None,
        args: tuple[str, ...] = (),
        command: list[str] | None = None,
        cwd: Path = ROOT,
        log: Path | None = None,
    ) -> None:
        self.db = Path(db or env["REPAIRS_DB"])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("REPAIRS_", "SHOP_"))}
        self.env = {**inherited, **env, "REPAIRS_DB": str(self.db)}
        self.command = [*(command or [str(BIN / "repairs")]), "serve"]
        self.command += ["--host", "127.0.0.1", "--port", str(self.port), *args]
        self.cwd = cwd
        self.log = log or self.db.with_suffix(f".{self.port}.log")
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> Served:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for_port(self.port, self.proc, "repairs serve", self.log)  # listens once started
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.client.close()

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        """Run a `repairs` admin command against the same database."""
        return subprocess.run(
            [str(BIN / "repairs"), *args], env=self.env, capture_output=True, text=True
        )


class InProcess(_Handler):
    """The handler's app in this process under Starlette's TestClient: same settings, pages,
    limits, writer and outbox as `repairs serve`, without uvicorn. `env` as for `Served`;
    SHOP_CONFIG in it must already be this process's (the fixture sets it)."""

    url = "http://testserver"

    def __init__(self, env: Mapping[str, str]) -> None:
        from starlette.testclient import TestClient

        from repairs import settings
        from repairs.app import create_app

        self.db = Path(env["REPAIRS_DB"])
        app = create_app(settings.load(env))
        # A writer that gives up must fail the test, not send SIGTERM to pytest.
        app.state.handler.request_exit = lambda: None
        self.client = TestClient(
            app, base_url=self.url, follow_redirects=False, client=("127.0.0.1", 50000)
        )
        self._running = False

    def start(self) -> InProcess:
        self.client.__enter__()  # runs the lifespan: writer and outbox
        self._running = True
        return self

    def stop(self) -> None:
        """Shut the app down as uvicorn would: the outbox finishes its round, the writer stops."""
        if self._running:
            self._running = False
            self.client.__exit__(None, None, None)
