"""Helpers the tests of every part share: ports, shop.toml variants, site builds, servers, SMTP."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these Chromium keeps dialling Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout=20.0) -> None:
    """Block until something listens on loopback `port`; fail with the log if `proc` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on port {port}:\n{_tail(log)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


# A repair request the handler accepts.
VALID = {
    "name": "Jan Jansen",
    "company": "",
    "address": "Dorpsstraat 1\n1234 AB Ergens",
    "email": "jan@example.nl",
    "phone": "06 12345678",
    "device": "Laptop",
    "description": "Start niet meer op na een update.",
    "lang": "nl",
    "website": "",
}


def form(**changes: str) -> dict[str, str]:
    """The valid form with some fields changed; a value of None drops the field."""
    data = {**VALID, **changes}
    return {k: v for k, v in data.items() if v is not None}


def smtp_env(sink: SMTPSink) -> dict[str, str]:
    """The REPAIRS_* environment of a handler mailing to `sink`, retrying fast, no client limits."""
    return {
        "REPAIRS_SMTP_HOST": "127.0.0.1",
        "REPAIRS_SMTP_PORT": str(sink.port),
        "REPAIRS_SMTP_TLS": "none",
        "REPAIRS_OWNER_EMAIL": "owner@itfixe.example",
        "REPAIRS_RETRY_MAX_SECONDS": "1",
        "REPAIRS_CLIENT_LIMIT": "0",
        "REPAIRS_RECIPIENT_LIMIT": "0",
    }


def write_shop_toml(path: Path, **sections: dict) -> Path:
    """Copy the repo's shop.toml to `path`, with keys of `sections` replaced."""
    import tomllib

    raw = tomllib.loads((ROOT / "shop.toml").read_text(encoding="utf-8"))
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    lines = []
    for name, values in raw.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_value(value) -> str:
    import datetime as dt

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | dt.date):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # a sub-table such as [business.opening_hours], inline
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_site(output: Path, shop_toml: Path | None = None, settings_file: str = "pelicanconf.py"):
    """Build the site into `output` as Pelican's own tests do; returns the output path."""
    from pelican import Pelican
    from pelican.settings import read_settings

    old_cwd, old_env = os.getcwd(), os.environ.get("SHOP_CONFIG")
    os.chdir(ROOT)  # pelicanconf's relative PATH/THEME
    if shop_toml is not None:
        os.environ["SHOP_CONFIG"] = str(shop_toml)
    try:
        # publishconf does `from pelicanconf import *`: drop a copy an earlier build left behind,
        # which may have been made from another shop.toml.
        sys.modules.pop("pelicanconf", None)
        settings = read_settings(
            str(ROOT / settings_file),
            override={
                "OUTPUT_PATH": str(output),
                "CACHE_CONTENT": False,
                "LOAD_CONTENT_CACHE": False,
            },
        )
        Pelican(settings).run()
    finally:
        os.chdir(old_cwd)
        if shop_toml is not None:
            if old_env is None:
                os.environ.pop("SHOP_CONFIG", None)
            else:
                os.environ["SHOP_CONFIG"] = old_env
    return output


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve `root` over HTTP on loopback; yields the base URL (no trailing slash)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class SMTPSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.running = False

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        """Stop listening (again, or before it ever started, is fine)."""
        if self.running:
            self.running = False
            self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until `count` messages arrived (or fail after `timeout` seconds)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
            time.sleep(0.05)
        return self.messages
