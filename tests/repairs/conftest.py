"""Fixtures for the handler's tests: the handler in-process (TestClient) or served by a real
`repairs serve` (see handlers.py), with a real SMTP sink behind it, and form data."""

from __future__ import annotations

from pathlib import Path

import pytest
from handlers import InProcess, Served
from support import SMTPSink, form, smtp_env, write_shop_toml


@pytest.fixture(scope="session")
def uncapped_shop_toml(tmp_path_factory) -> Path:
    """The repo's shop.toml without the hourly cap: most tests post more than it allows."""
    path = tmp_path_factory.mktemp("shop") / "shop.toml"
    return write_shop_toml(path, repairs={"accepted_requests_per_hour": 0})


def _handler_env(env: dict[str, str], db: Path, shop_toml: Path) -> dict[str, str]:
    """Without SHOP_CONFIG in `env` the handler reads shop.toml with the hourly cap off."""
    return {"SHOP_CONFIG": str(shop_toml), "REPAIRS_DB": str(db), **env}


@pytest.fixture
def start_handler(tmp_path, running_handlers, uncapped_shop_toml):
    """start_handler(env, site=None, db=None, command=None) -> a running `repairs serve`
    (handlers.Served), stopped after the test."""

    def start(
        env: dict[str, str],
        site: Path | None = None,
        db: Path | None = None,
        command: list[str] | None = None,
    ) -> Served:
        env = _handler_env(env, db or tmp_path / "repairs.sqlite3", uncapped_shop_toml)
        args = ("--site", str(site)) if site is not None else ()
        handler = Served(env, args=args, command=command).start()
        running_handlers.append(handler)
        return handler

    return start


@pytest.fixture
def start_app(tmp_path, running_handlers, uncapped_shop_toml, monkeypatch):
    """start_app(env) -> the handler's app running in-process under TestClient
    (handlers.InProcess), stopped after the test."""

    def start(env: dict[str, str]) -> InProcess:
        env = _handler_env(env, tmp_path / "repairs.sqlite3", uncapped_shop_toml)
        monkeypatch.setenv("SHOP_CONFIG", env["SHOP_CONFIG"])  # shop.toml comes from there
        handler = InProcess(env).start()
        running_handlers.append(handler)
        return handler

    return start


@pytest.fixture
def sink_down(smtp_sinks) -> SMTPSink:
    """An SMTP sink that is not listening yet: start() brings the mail server up."""
    return smtp_sinks(start=False)


@pytest.fixture
def handler(start_app, smtp_sink) -> InProcess:
    """The handler's app in-process, mailing to a real SMTP sink."""
    return start_app(smtp_env(smtp_sink))


@pytest.fixture
def served_handler(start_handler, smtp_sink) -> Served:
    """`repairs serve` in its own process, mailing to a real SMTP sink."""
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
