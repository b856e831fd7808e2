"""Fixtures for the handler's tests: `repairs serve` in a real subprocess, a client, form data."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ROOT, SMTPSink, form, free_port, smtp_env, write_shop_toml


class Handler:
    """One `repairs serve` process on a free loopback port."""

    def __init__(
        self,
        db: Path,
        env: dict[str, str],
        site: Path | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        self.db = db
        self.launcher = launcher or ["-c", "from repairs.cli import cli; cli()"]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.site = site
        self.proc: subprocess.Popen | None = None
        self.log = db.with_suffix(f".{self.port}.log")

    def start(self) -> Handler:
        args = [sys.executable, *self.launcher, "serve"]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.site is not None:
            args += ["--site", str(self.site)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPAIRS_")}
        env.update({"REPAIRS_DB": str(self.db), **self.env})
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"repairs serve exited: {self.log.read_text()}")
            try:
                httpx.get(self.url + "/api/repair-request/thanks", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("repairs serve did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def post(self, data: dict | None, **kw) -> httpx.Response:
        """POST to the form's address; follows the 303 unless follow_redirects=False."""
        kw.setdefault("follow_redirects", True)
        return httpx.post(self.url + "/api/repair-request", data=data, timeout=10, **kw)

    def rows(self, sql: str = "SELECT * FROM requests ORDER BY id", args=()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="session")
def uncapped_shop_toml(tmp_path_factory) -> Path:
    """The repo's shop.toml without the hourly cap: most tests post more than it allows."""
    path = tmp_path_factory.mktemp("shop") / "shop.toml"
    return write_shop_toml(path, repairs={"accepted_requests_per_hour": 0})


@pytest.fixture
def start_handler(tmp_path, running_handlers, uncapped_shop_toml) -> Iterator:
    """start_handler(env, site=None, db=None, launcher=None) -> a running Handler, stopped after
    the test. Without SHOP_CONFIG in `env` the handler reads shop.toml with the hourly cap off.
    """

    def start(
        env: dict[str, str],
        site: Path | None = None,
        db: Path | None = None,
        launcher: list[str] | None = None,
    ) -> Handler:
        env = {"SHOP_CONFIG": str(uncapped_shop_toml), **env}
        handler = Handler(db or tmp_path / "repairs.sqlite3", env, site, launcher).start()
        running_handlers.append(handler)
        return handler

    return start


@pytest.fixture
def sink_down(running_handlers) -> Iterator[SMTPSink]:
    """An SMTP sink that is not listening yet: start() brings the mail server up."""
    sink = SMTPSink()
    yield sink
    for handler in running_handlers:
        handler.stop()
    with contextlib.suppress(Exception):  # never started
        sink.stop()


@pytest.fixture
def handler(start_handler, smtp_sink) -> Handler:
    """The handler with a real SMTP sink behind it."""
    return start_handler(smtp_env(smtp_sink))


@pytest.fixture
def make_form():
    """make_form(**changes) -> a valid repair form with those fields changed (None drops one)."""
    return form


@pytest.fixture
def env_for():
    """env_for(sink, **extra) -> the REPAIRS_* environment for a handler mailing to `sink`."""

    def env(sink: SMTPSink, **extra: str) -> dict[str, str]:
        return {**smtp_env(sink), **extra}

    return env
