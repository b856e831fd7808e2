"""Every page in Debian's Chromium: no cookies, nothing from other origins, no errors, axe clean.

Pages are served as a static host would serve them: with the `_headers` (so the CSP is enforced)
and with 404.html for a missing address. Each page is visited once per colour scheme; the tests
below read that one visit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from support import ARTIFACTS, ROOT

from shop.site import PAGE_PATHS

pytestmark = pytest.mark.browser

AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_RUN = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' ')),
    }));
}"""
# Light at desktop width, dark at the narrowest width the site supports.
SCHEMES = {"light": {"width": 1280, "height": 800}, "dark": {"width": 320, "height": 640}}
MISSING_ADDRESS = "/bestaat-niet/diep/"  # the 404 page must work at any depth


@dataclass
class Visit:
    """What one page load did."""

    status: int
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    cookies: list = field(default_factory=list)
    storage_items: int = 0
    overflow_px: int = 0
    violations: list[dict] = field(default_factory=list)


def visit(browser, url: str, scheme: str) -> Visit:
    context = browser.new_context(color_scheme=scheme, viewport=SCHEMES[scheme])
    # An init script is not subject to the page's CSP, which forbids injected <script> elements.
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    seen = Visit(status=0)

    def on_response(response):
        if response.status >= 400 and response.url != url:
            seen.failures.append(f"{response.url}: {response.status}")

    def on_console(message):
        if message.type == "error":
            seen.console_errors.append(f"{message.text} ({message.location['url']})")

    page.on("request", lambda request: seen.requests.append(request.url))
    page.on(
        "requestfailed", lambda request: seen.failures.append(f"{request.url}: {request.failure}")
    )
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    try:
        response = page.goto(url, wait_until="load")
        seen.status = response.status
        seen.cookies = context.cookies()
        seen.storage_items = page.evaluate("localStorage.length + sessionStorage.length")
        seen.overflow_px = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        seen.violations = page.evaluate(AXE_RUN, AXE_TAGS)
    finally:
        context.close()
    return seen


@pytest.fixture(scope="session")
def visits(browser, static_host):
    """(page, scheme) -> Visit, each page loaded once per colour scheme and shared by the tests."""
    cache: dict[tuple[str, str], Visit] = {}

    def get(any_page, scheme: str) -> Visit:
        address = MISSING_ADDRESS if any_page.key == "404" else any_page.path
        if (address, scheme) not in cache:
            cache[address, scheme] = visit(browser, static_host + address, scheme)
        return cache[address, scheme]

    return get


@pytest.fixture(params=list(SCHEMES))
def scheme(request) -> str:
    return request.param


def test_page_loads(visits, any_page, scheme):
    assert visits(any_page, scheme).status == (404 if any_page.key == "404" else 200)


def test_no_cookies_or_storage(visits, any_page, scheme):
    seen = visits(any_page, scheme)
    assert seen.cookies == []
    assert seen.storage_items == 0


def test_no_requests_to_other_origins(visits, any_page, scheme, static_host):
    own = urlsplit(static_host).netloc
    foreign = [
        url
        for url in visits(any_page, scheme).requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own
    ]
    assert not foreign


def test_no_failed_requests(visits, any_page, scheme):
    assert not visits(any_page, scheme).failures


def test_no_console_errors(visits, any_page, scheme):
    errors = visits(any_page, scheme).console_errors
    if any_page.key == "404":  # Chromium logs the page's own 404 status
        errors = [e for e in errors if "status of 404" not in e or MISSING_ADDRESS not in e]
    assert not errors


def test_no_horizontal_scrolling(visits, any_page, scheme):
    assert visits(any_page, scheme).overflow_px <= 0, f"{SCHEMES[scheme]['width']} px wide"


def test_no_axe_violations(visits, any_page, scheme):
    violations = visits(any_page, scheme).violations
    described = [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['targets'][:5])}"
        for v in violations
    ]
    assert not violations, "WCAG 2.2 AA violations:\n" + "\n".join(described)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_form_works_without_javascript(browser, static_host, lang):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(static_host + PAGE_PATHS["repair"][lang])
        form = page.locator("form")
        for name in ("name", "email", "description"):
            assert form.locator(f"[name={name}]").is_visible(), f"{name} not visible"
        assert form.locator("button[type=submit], input[type=submit]").is_visible()
        trap = form.locator("[name=website]").bounding_box()
        assert (
            trap is None
            or trap["x"] + trap["width"] <= 0
            or trap["y"] + trap["height"] <= 0
            or (trap["width"] <= 1 and trap["height"] <= 1)
        ), f"honeypot visible at {trap}"
    finally:
        context.close()


def test_skip_link_is_the_first_stop_and_visible(browser, static_host):
    context = browser.new_context(viewport=SCHEMES["light"])
    try:
        page = context.new_page()
        page.goto(static_host + PAGE_PATHS["home"]["nl"])
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement.getAttribute('href') || ''")
        assert href.startswith("#") and len(href) > 1, f"first Tab stop is {href!r}"
        assert page.locator(href).count() == 1, f"skip link target {href} missing"
        box = page.evaluate(
            "JSON.parse(JSON.stringify(document.activeElement.getBoundingClientRect()))"
        )
        assert box["width"] > 1 and box["height"] > 1 and box["x"] >= 0 and box["y"] >= 0, box
    finally:
        context.close()


FOCUSED_RECT = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const r = el.getBoundingClientRect();
    return {x: Math.max(0, r.x + scrollX - 4), y: Math.max(0, r.y + scrollY - 4),
            width: r.width + 8, height: r.height + 8, html: el.outerHTML.slice(0, 80)};
}"""


def test_keyboard_focus_is_visible(browser, static_host, scheme):
    """Each Tab stop on the home page looks different focused than unfocused."""
    context = browser.new_context(color_scheme=scheme, viewport=SCHEMES[scheme])
    try:
        page = context.new_page()
        page.goto(static_host + PAGE_PATHS["home"]["nl"])
        stops = []
        for _ in range(40):
            page.keyboard.press("Tab")
            rect = page.evaluate(FOCUSED_RECT)
            if rect is None or any(rect["html"] == stop[0]["html"] for stop in stops):
                break
            clip = {k: rect[k] for k in ("x", "y", "width", "height")}
            stops.append((rect, page.screenshot(full_page=True, clip=clip)))
        page.evaluate("document.activeElement.blur()")
        invisible = [
            rect["html"]
            for rect, focused in stops
            if page.screenshot(
                full_page=True, clip={k: rect[k] for k in ("x", "y", "width", "height")}
            )
            == focused
        ]
        assert stops, "nothing on the page takes keyboard focus"
        assert not invisible, "no visible focus on:\n" + "\n".join(invisible)
    finally:
        context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_home_screenshot(browser, static_host, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        page.goto(static_host + PAGE_PATHS["home"]["nl"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"home-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
    finally:
        context.close()
