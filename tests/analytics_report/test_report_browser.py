"""The report and the GoAccess dashboard in Debian's Chromium: no other origin, axe clean, phone-sized."""

from __future__ import annotations

import pytest
from support import ARTIFACTS, ROOT, serve_directory

from analytics.export import write_csvs, write_json
from analytics.geoip import DBIP_ATTRIBUTION
from analytics.goaccess import build_dashboard
from analytics.report import write_report
from analytics.sample import generate_log

pytestmark = pytest.mark.browser

AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_RUN = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
    return result.violations.map(v => ({id: v.id, help: v.help,
        targets: v.nodes.map(n => n.target.join(' '))}));
}"""
PHONE = {"width": 320, "height": 640}  # the narrowest width the site supports
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def stats_dir(tmp_path_factory, stats_factory):
    stats = stats_factory()
    stats["settings"].update(geoip="dbip.mmdb", geoip_attribution=DBIP_ATTRIBUTION)
    stats["tables"]["countries"]["rows"] = [{"key": "NL", "count": 9}, {"key": "BE", "count": 2}]
    out = tmp_path_factory.mktemp("stats")
    log = out.parent / "sample.log"
    generate_log(log, 2_000, seed=3, ipv6_share=0.0)
    # GoAccess needs no real anonymisation to show what it loads; the CLI tests check privacy.
    build_dashboard(log, out / "goaccess.html")
    write_json(stats, out)
    write_csvs(stats, out)
    write_report(stats, out, "nl")
    return out


@pytest.fixture(scope="module")
def base_url(stats_dir):
    with serve_directory(stats_dir) as url:
        yield url


def load(browser, url: str, viewport: dict, axe: bool = False) -> dict:
    context = browser.new_context(viewport=viewport)
    if axe:
        context.add_init_script(path=str(AXE))  # init scripts are exempt from the page's CSP
    page = context.new_page()
    seen = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on(
        "console",
        lambda m: seen["errors"].append(m.text) if m.type == "error" else None,
    )
    try:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)  # let a dashboard's scripts run and fetch what they would
        seen["overflow"] = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if axe:
            seen["violations"] = page.evaluate(AXE_RUN, AXE_TAGS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = url.rsplit("/", 1)[-1].replace(".", "-")
        page.screenshot(path=ARTIFACTS / f"report-{name}-{viewport['width']}.png", full_page=True)
    finally:
        context.close()
    return seen


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_report_loads_only_itself_and_passes_axe(browser, base_url, viewport):
    seen = load(browser, f"{base_url}/index.html", viewport, axe=True)
    assert seen["requests"] == [f"{base_url}/index.html"]
    assert seen["errors"] == []
    assert seen["violations"] == []
    assert seen["overflow"] <= 0


def test_goaccess_dashboard_loads_nothing_from_another_origin(browser, base_url):
    seen = load(browser, f"{base_url}/goaccess.html", DESKTOP)
    assert seen["requests"], "the dashboard did not load"
    others = [u for u in seen["requests"] if not u.startswith((base_url, "data:"))]
    assert others == []
