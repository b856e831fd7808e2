"""The report and the GoAccess dashboard in Debian's Chromium, served the way the owner sees them
in `make demo` (`repairs serve --site`, the site's CSP): rendered with no CSP violation, nothing
from another origin, axe clean, phone-sized. tests/e2e does the same through nginx."""

from __future__ import annotations

import httpx
import pytest
from analytics_report.rendering import (
    CSP_VIOLATIONS,
    CSP_WATCH,
    assert_dashboard_rendered,
    assert_report_rendered,
)
from e2e.harness import run_site_preview
from support import ARTIFACTS, ROOT

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
def site_dir(tmp_path_factory, stats_factory):
    """A site folder with the report in stats/, as `make demo` lays it out."""
    stats = stats_factory()
    stats["settings"].update(geoip="dbip.mmdb", geoip_attribution=DBIP_ATTRIBUTION)
    stats["tables"]["countries"]["rows"] = [{"key": "NL", "count": 9}, {"key": "BE", "count": 2}]
    site = tmp_path_factory.mktemp("site")
    out = site / "stats"
    out.mkdir()
    log = site.parent / "sample.log"
    generate_log(log, 2_000, seed=3, ipv6_share=0.0)
    # GoAccess needs no real anonymisation to show what it loads; the CLI tests check privacy.
    build_dashboard(log, out / "goaccess.html")
    write_json(stats, out)
    write_csvs(stats, out)
    write_report(stats, out, "nl")
    return site


@pytest.fixture(scope="module")
def base_url(site_dir, tmp_path_factory):
    """The report's URL through the demo's server."""
    with run_site_preview(tmp_path_factory.mktemp("preview"), site_dir) as url:
        yield f"{url}/stats"


def load(browser, url: str, viewport: dict, axe: bool = False, check=None) -> dict:
    """Open `url`; what the page requested, its errors and CSP violations, and `check(page)`."""
    context = browser.new_context(viewport=viewport)
    context.add_init_script(CSP_WATCH)  # init scripts are exempt from the page's CSP
    if axe:
        context.add_init_script(path=str(AXE))
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
        seen["csp"] = page.evaluate(CSP_VIOLATIONS)
        if check:
            check(page)
        seen["overflow"] = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if axe:
            seen["violations"] = page.evaluate(AXE_RUN, AXE_TAGS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = url.rsplit("/", 1)[-1].replace(".", "-") or "index"
        page.screenshot(path=ARTIFACTS / f"report-{name}-{viewport['width']}.png", full_page=True)
    finally:
        context.close()
    return seen


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_report_renders_under_the_sites_csp_and_passes_axe(browser, base_url, viewport):
    seen = load(browser, f"{base_url}/", viewport, axe=True, check=assert_report_rendered)
    assert seen["csp"] == []
    assert seen["requests"] == [f"{base_url}/", f"{base_url}/report.css"]
    assert seen["errors"] == []
    assert seen["violations"] == []
    assert seen["overflow"] <= 0


def page_through_a_panel(page) -> None:
    """Its buttons are links to javascript:void(0), which the CSP refuses; the click works."""
    first_row = "#panel-requests tbody tr:first-child .row-idx"
    assert page.inner_text(first_row).strip() == "1"
    page.click("#panel-requests .panel-next")
    page.wait_for_function(f"document.querySelector('{first_row}').innerText.trim() !== '1'")


def test_goaccess_dashboard_renders_under_its_csp(browser, base_url):
    def check(page):
        assert_dashboard_rendered(page)
        page_through_a_panel(page)

    seen = load(browser, f"{base_url}/goaccess.html", DESKTOP, check=check)
    assert seen["csp"] == []
    assert seen["errors"] == []
    others = [u for u in seen["requests"] if not u.startswith((base_url, "data:"))]
    assert others == []
    assert f"{base_url}/goaccess.js" in seen["requests"]


def test_report_is_served_private_and_only_the_dashboard_may_eval(base_url, site_dir):
    """The site's CSP without 'unsafe-inline' anywhere; 'unsafe-eval' only for GoAccess."""
    with httpx.Client() as http:
        site = http.get(base_url.removesuffix("/stats") + "/")
        report = http.get(f"{base_url}/")
        dashboard = http.get(f"{base_url}/goaccess.html")
    assert report.status_code == dashboard.status_code == 200
    csp = report.headers["content-security-policy"]
    assert csp == site.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    script_src = next(
        d for d in dashboard.headers["content-security-policy"].split(";") if "script-src" in d
    )
    assert script_src.split() == ["script-src", "'self'", "'unsafe-eval'"]
    for response in (report, dashboard):
        assert response.headers["x-robots-tag"] == "noindex, nofollow"
        assert response.headers["cache-control"] == "private, no-store"
    assert "x-robots-tag" not in site.headers
