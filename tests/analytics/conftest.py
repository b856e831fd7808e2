"""Fixtures for the analytics pipeline tests: log lines, sample logs, running the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analytics.cli import cli

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def clf_time(when: dt.datetime) -> str:
    """A datetime as nginx's $time_local."""
    return when.strftime("%d/%b/%Y:%H:%M:%S %z")


def log_line(
    ip: str = "192.0.2.10",
    when: dt.datetime | str = "21/Oct/2026:10:00:00 +0200",
    request: str = "GET / HTTP/1.1",
    status: int | str = 200,
    size: int | str = 1234,
    referrer: str = "-",
    ua: str = CHROME,
    extra: str = "",
) -> str:
    """One nginx combined line (with `extra` appended after the user agent)."""
    when = clf_time(when) if isinstance(when, dt.datetime) else when
    return f'{ip} - - [{when}] "{request}" {status} {size} "{referrer}" "{ua}"{extra}\n'


@pytest.fixture
def write_log(tmp_path):
    """Write lines to a log file in tmp_path and return its path."""

    def write(lines, name="access.log") -> Path:
        path = tmp_path / name
        data = "".join(lines)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    return write


@pytest.fixture
def report(tmp_path):
    """Run `analytics report ... --no-goaccess` and return (result, stats dict)."""

    def run(*args: str, out: Path | None = None, input: bytes | None = None):
        out = out or tmp_path / "out"
        result = CliRunner().invoke(
            cli, ["report", *map(str, args), "--out", str(out), "--no-goaccess"], input=input
        )
        stats_file = out / "stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else None
        return result, stats

    return run


@pytest.fixture(scope="session")
def sample_log(tmp_path_factory) -> Path:
    """20,000 lines from the project's generator (IPv4, IPv6, ::ffff:, X-Forwarded-For)."""
    from analytics.sample import generate_log

    path = tmp_path_factory.mktemp("sample") / "access.log"
    generate_log(path, 20_000, seed=3, xff=True)
    return path


def table(stats: dict, name: str) -> dict[str, int]:
    return {row["key"]: row["count"] for row in stats["tables"][name]["rows"]}


@pytest.fixture
def line():
    """The `log_line` builder (test modules cannot import this conftest by name)."""
    return log_line


@pytest.fixture
def agents():
    """User agents: .chrome, .firefox, .googlebot."""

    class Agents:
        chrome, firefox, googlebot = CHROME, FIREFOX, GOOGLEBOT

    return Agents


@pytest.fixture
def rows():
    """`table(stats, name)`: a table's rows as {key: count}."""
    return table


@pytest.fixture(scope="module", autouse=True)
def runtime_directory(tmp_path_factory):
    """A runtime folder for the day keys of `--state` runs (as systemd's RuntimeDirectory)."""
    folder = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME_DIRECTORY", str(folder))
        yield folder
