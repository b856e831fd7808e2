"""What "the report renders" means in a browser, checked where it is served: through the demo's
server (test_report_browser.py) and through nginx (tests/e2e). Imported as
`analytics_report.rendering`."""

from __future__ import annotations

# An init script (exempt from the page's CSP) that records every CSP violation of the page.
CSP_WATCH = """window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} in ${e.sourceFile}:${e.lineNumber}`));
"""
CSP_VIOLATIONS = "window.__cspViolations"

# index.html: its stylesheet applied, the charts drawn in their colours, the table bars shown.
REPORT = """() => {
    const css = (selector, property) => {
        const element = document.querySelector(selector);
        return element ? getComputedStyle(element).getPropertyValue(property).trim() : null;
    };
    const bar = document.querySelector('svg.chart path[fill="#1d5a8c"]');
    return {
        cardRadius: css('.card', 'border-radius'),
        swatch: css('.swatch.pageviews', 'background-color'),
        shareOfTopRow: css('td.key', '--share'),
        keyBackground: css('td.key', 'background-image'),
        charts: document.querySelectorAll('svg.chart').length,
        chartWidth: Math.round(document.querySelector('svg.chart').getBoundingClientRect().width),
        barFill: bar && getComputedStyle(bar).fill,
    };
}"""
REPORT_RENDERED = {
    "cardRadius": "8px",
    "swatch": "rgb(29, 90, 140)",
    "shareOfTopRow": "100%",
    "charts": 2,
    "barFill": "rgb(29, 90, 140)",
}

# goaccess.html: GoAccess's scripts ran (numbers, panels, tables, charts) with its styles.
DASHBOARD = """() => {
    const icons = [...document.fonts].filter((f) => f.family.replace(/["']/g, '') === 'fa');
    const value = document.querySelector('.wrap-general .grid-module h3');
    return {
        background: getComputedStyle(document.body).backgroundColor,
        overview: document.querySelectorAll('.wrap-general .grid-module').length,
        panels: document.querySelectorAll('.wrap-panels [id^="panel-"]').length,
        rows: document.querySelectorAll('.wrap-panels tbody tr').length,
        charts: document.querySelectorAll('.wrap-panels svg').length,
        iconFont: icons.map((f) => f.status),
        styleAttribute: value && value.style.paddingTop,
    };
}"""


def assert_report_rendered(page) -> None:
    got = page.evaluate(REPORT)
    assert {key: got[key] for key in REPORT_RENDERED} == REPORT_RENDERED, got
    assert "linear-gradient" in got["keyBackground"], got
    assert got["chartWidth"] > 300, got  # sized by the stylesheet, not 0 or the SVG's default


def assert_dashboard_rendered(page) -> None:
    got = page.evaluate(DASHBOARD)
    assert got["background"] == "rgb(240, 240, 240)", got  # goaccess.css applied
    assert got["overview"] >= 10 and got["panels"] >= 10, got
    assert got["rows"] >= 10 and got["charts"] >= 2, got
    assert got["iconFont"] == ["loaded"], got
    assert got["styleAttribute"] == "0px", got  # its data-style put back through the CSSOM
