"""Fixtures every part's tests share: a built site, a static server, Chromium, an SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import CHROMIUM, CHROMIUM_ARGS, SMTPSink, build_site, serve_directory


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site built once from the repo's content and shop.toml."""
    return build_site(tmp_path_factory.mktemp("site") / "output")


@pytest.fixture(scope="session")
def site_url(built_site) -> Iterator[str]:
    """Base URL of the built site served by a plain static server."""
    with serve_directory(built_site) as url:
        yield url


@pytest.fixture(scope="session")
def playwright():
    """The one Playwright driver of the session (the sync API allows only one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's Chromium driven by Playwright (no browser download)."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no shared cookies or storage) and page."""
    context = browser.new_context()
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture
def running_handlers() -> Iterator[list]:
    """Every server a test started that mails (anything with stop()); stopped after the test,
    before any SMTP sink goes down."""
    handlers: list = []
    yield handlers
    for handler in handlers:
        handler.stop()


@pytest.fixture
def smtp_sinks(running_handlers) -> Iterator:
    """smtp_sinks(sink=None, start=True) -> a real SMTP sink (a new SMTPSink, or `sink`, e.g. a
    FaultySink), started unless start=False; stopped after the test, once the handlers mailing
    to it have stopped."""
    made: list[SMTPSink] = []

    def make(sink: SMTPSink | None = None, start: bool = True) -> SMTPSink:
        sink = sink or SMTPSink()
        made.append(sink)
        if start:
            sink.start()
        return sink

    yield make
    for handler in running_handlers:
        handler.stop()
    for sink in made:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sinks) -> SMTPSink:
    """A real SMTP sink, torn down only after the handlers mailing to it have stopped."""
    return smtp_sinks()
