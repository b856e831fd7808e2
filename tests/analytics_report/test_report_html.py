"""The report page, parsed: figures, tables, languages, inline SVG, nothing from another origin."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from bs4 import BeautifulSoup

from analytics.charts import PAGEVIEWS_COLOUR, VISITORS_COLOUR, gridline_values
from analytics.export import write_csvs, write_json
from analytics.report import render_report, render_stylesheet, write_report

# Hyperlinks a reader may follow; nothing is ever loaded from them.
ALLOWED_LINKS = ("https://db-ip.com/",)


def soup_of(stats: dict, lang: str = "nl", present: set[str] = frozenset()) -> BeautifulSoup:
    return BeautifulSoup(render_report(stats, lang, present), "html.parser")


def text_of(soup: BeautifulSoup) -> str:
    return " ".join(soup.get_text(" ").split())


def card(soup: BeautifulSoup, label: str):
    for item in soup.select("li.card"):
        if item.select_one(".label").get_text(strip=True) == label:
            return item
    raise AssertionError(f"no headline card {label!r}")


def test_write_report_writes_index_html(tmp_path, stats):
    path = write_report(stats, tmp_path / "out", "nl")
    assert path == tmp_path / "out" / "index.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert not list((tmp_path / "out").glob(".*part"))
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"index.html", "report.css"}


def test_nothing_inline_that_a_csp_would_block(stats_with_geoip):
    """The site's CSP (style-src 'self', no 'unsafe-inline') serves the page as it is."""
    soup = BeautifulSoup(render_report(stats_with_geoip, "nl"), "html.parser")
    assert soup.find("style") is None
    assert [tag.name for tag in soup.find_all(style=True)] == []
    assert [link["href"] for link in soup.find_all("link", rel="stylesheet")] == ["report.css"]
    shares = [td["class"] for td in soup.select("#table-pages td.key")]
    assert shares[0] == ["key", "share-100"] and shares[-1] == ["key", "share-3"]


def test_stylesheet_has_a_rule_for_every_share_and_the_chart_colours():
    css = render_stylesheet()
    for share in (0, 3, 57, 100):
        assert f"td.share-{share} {{ --share: {share}%; }}" in css
    assert PAGEVIEWS_COLOUR in css and VISITORS_COLOUR in css
    assert "{{" not in css and "{%" not in css


def test_unknown_language_is_refused(tmp_path, stats):
    with pytest.raises(ValueError, match="nl, en"):
        write_report(stats, tmp_path, "de")


def test_headline_numbers_in_dutch(stats):
    soup = soup_of(stats, "nl")
    assert soup.html["lang"] == "nl"
    visitors = card(soup, "Bezoekers")
    assert visitors.select_one(".value").get_text(strip=True) == "1.090"  # Dutch thousands dot
    assert card(soup, "Paginaweergaven").select_one(".value").get_text(strip=True) == "1.821"
    assert card(soup, "Bezoeken").select_one(".value").get_text(strip=True) == "1.180"
    assert card(soup, "Bouncepercentage").select_one(".value").get_text(strip=True) == "43%"
    assert card(soup, "Bezoekduur").select_one(".value").get_text(strip=True) == "1 min 35 s"
    assert "1,9 pagina's per bezoek" in card(soup, "Bezoekduur").get_text()


def test_change_against_previous_period(stats):
    soup = soup_of(stats, "en")
    # pageviews 1821 vs 1621: +12%; visitors 1090 vs 1140: -4%; visits equal.
    pageviews = card(soup, "Pageviews").select_one(".change")
    assert "up" in pageviews["class"] and "+12%" in pageviews.get_text()
    visitors = card(soup, "Visitors").select_one(".change")
    assert "down" in visitors["class"] and "−4%" in visitors.get_text()
    assert "= 0%" in card(soup, "Visits").select_one(".change").get_text()
    assert "vs September 15 – 24" in card(soup, "Visits").get_text()


def test_no_change_shown_without_previous_period(stats):
    stats["previous"] = None
    soup = soup_of(stats, "en")
    assert soup.select(".card .change") == []


@pytest.mark.parametrize(
    ("lang", "start", "end", "shown"),
    [
        ("nl", "2026-10-19", "2026-10-25", "19 – 25 oktober 2026 (7 dagen)"),
        ("nl", "2026-10-26", "2026-11-01", "26 oktober – 1 november 2026 (7 dagen)"),
        ("nl", "2026-12-28", "2027-01-03", "28 december 2026 – 3 januari 2027 (7 dagen)"),
        ("nl", "2026-10-19", "2026-10-19", "19 oktober 2026 (1 dag)"),
        ("en", "2026-10-19", "2026-10-25", "October 19 – 25, 2026 (7 days)"),
        ("en", "2026-10-26", "2026-11-01", "October 26 – November 1, 2026 (7 days)"),
        ("en", "2026-12-28", "2027-01-03", "December 28, 2026 – January 3, 2027 (7 days)"),
    ],
)
def test_period_is_written_as_people_write_it(stats, lang, start, end, shown):
    days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1
    stats["period"] = {"start": start, "end": end, "days": days}
    soup = soup_of(stats, lang)
    assert soup.select_one(".period").get_text() == shown
    assert shown in soup.title.get_text()


def test_english_and_dutch_differ_in_words_not_figures(stats):
    nl, en = soup_of(stats, "nl"), soup_of(stats, "en")
    assert en.html["lang"] == "en"
    assert "Visitors and pageviews per day" in text_of(en)
    assert "Bezoekers en paginaweergaven per dag" in text_of(nl)
    assert "Bezoekers" not in text_of(en)
    assert card(en, "Visitors").select_one(".value").get_text(strip=True) == "1,090"
    assert "without cookies" in text_of(en)
    assert "zonder cookies" in text_of(nl)


def test_method_line_names_the_masks(stats):
    stats["settings"]["ipv4_prefix"] = 16
    stats["settings"]["ipv6_prefix"] = 40
    method = soup_of(stats, "nl").select_one("footer .method").get_text()
    assert "/16 (IPv4)" in method and "/40 (IPv6)" in method
    assert "cookies" in method


@pytest.mark.parametrize(
    ("table", "caption", "first_key", "first_count"),
    [
        ("pages", "Pagina's", "/", "812"),
        ("entry_pages", "Instappagina's", "/", "700"),
        ("exit_pages", "Uitstappagina's", "/", "500"),
        ("referrers", "Verwijzende sites", "google.com", "400"),
        ("search_engines", "Zoekmachines", "Google", "450"),
        ("social", "Sociale media", "Facebook", "30"),
        ("campaigns", "Campagnes", "nieuwsbrief", "19"),
        ("browsers", "Browsers", "Chrome", "600"),
        ("os", "Besturingssystemen", "Windows", "500"),
        ("devices", "Apparaten", "Computer", "620"),
        ("status_codes", "Statuscodes", "200 OK", "7.000"),
        ("not_found", "Niet gevonden (404)", "/wp-login.php", "40"),
        ("bots", "Bots en scripts", "Googlebot", "500"),
    ],
)
def test_top_tables_have_caption_headers_and_rows(stats, table, caption, first_key, first_count):
    section = soup_of(stats, "nl").select_one(f"#table-{table}")
    assert section is not None
    t = section.find("table")
    assert t.caption.get_text(strip=True) == caption
    headers = [th for th in t.thead.find_all("th")]
    assert headers and all(th.get("scope") == "col" for th in headers)
    first = t.tbody.find("tr").find_all("td")
    assert first[0].get_text(strip=True) == first_key
    assert first[-1].get_text(strip=True) == first_count


def test_extra_columns_are_shown(stats):
    headers = soup_of(stats, "en").select("#table-pages thead th")
    assert [h.get_text(strip=True) for h in headers] == ["Page", "Visitors", "Pageviews"]


def test_long_tables_are_cut_with_a_link_to_the_csv(stats):
    stats["tables"]["pages"]["rows"] = [
        {"key": f"/p{i}/", "count": 100 - i, "visitors": 1} for i in range(25)
    ]
    soup = soup_of(stats, "en", present={"pages.csv"})
    assert len(soup.select("#table-pages tbody tr")) == 10
    more = soup.select_one("#table-pages .more")
    assert "and 15 more" in more.get_text()
    assert more.a["href"] == "pages.csv"


def test_empty_table_says_so(stats):
    stats["tables"]["campaigns"]["rows"] = []
    section = soup_of(stats, "en").select_one("#table-campaigns")
    assert section.find("table") is None
    assert "No data in this period." in section.get_text()


def test_month_summaries_only_when_the_period_spans_months(stats):
    soup = soup_of(stats, "nl")
    rows = soup.select("#months-heading ~ div table tbody tr")
    assert [r.th.get_text() for r in rows] == ["september 2026", "oktober 2026"]
    stats["monthly"] = stats["monthly"][:1]
    assert soup_of(stats, "nl").select_one("#months-heading") is None


def test_charts_are_inline_svg_with_text_as_text(stats):
    soup = soup_of(stats, "en")
    svgs = soup.find_all("svg")
    assert len(svgs) == 2  # per day, per hour of the day
    for svg in svgs:
        assert svg["role"] == "img"
        title = svg.find("title")
        assert title is not None and title.get_text()
        assert svg["aria-labelledby"] == title["id"]
        assert svg.find("text") is not None
        assert svg.find("image") is None
        # colours and fonts as presentation attributes, which a CSP does not block
        assert svg.find_all(style=True) == []
        assert svg.find("text")["fill"] == "#333333"
    assert svgs[0].find("path", fill=PAGEVIEWS_COLOUR) is not None
    day_labels = [t.get_text() for t in svgs[0].find_all("text")]
    assert "Fri 25" in day_labels and "Sat 26" in day_labels
    hour_labels = [t.get_text() for t in svgs[1].find_all("text")]
    assert "00" in hour_labels and "22" in hour_labels


def test_ids_are_unique_on_the_page(stats):
    soup = soup_of(stats, "nl")
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    referenced = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', str(soup)))
    for pair in referenced:
        target = next(p for p in pair if p)
        assert soup.find(id=target) is not None, target


def test_charts_carry_the_data_as_a_table_too(stats):
    soup = soup_of(stats, "en")
    rows = soup.select("#daily-heading ~ details table tbody tr")
    assert len(rows) == 10
    assert rows[0].th.get_text() == "Sep 25"


def test_no_script_and_nothing_from_another_origin(stats_with_geoip):
    html = render_report(stats_with_geoip, "nl", {"goaccess.html", "stats.json"})
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    assert [link["href"] for link in soup.find_all("link")] == ["report.css"]  # beside it
    assert soup.find("iframe") is None and soup.find("img") is None
    assert not soup.find_all(attrs={"src": True})
    for tag in soup.find_all(True):
        assert not any(a.startswith("on") for a in tag.attrs), tag.name
    for style in soup.find_all("style"):
        assert "url(" not in style.get_text() and "@import" not in style.get_text()
    for a in soup.find_all("a"):
        href = a["href"]
        assert not href.startswith(("http:", "//")), href
        assert not href.startswith("https:") or href.startswith(ALLOWED_LINKS), href
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert "default-src 'none'" in csp["content"]


def test_without_geoip_the_country_panel_says_how_to_get_dbip(stats):
    panel = soup_of(stats, "en").select_one("#table-countries")
    text = text_of(panel)
    assert "IP to Country Lite" in text and "CC BY 4.0" in text and "--geoip" in text
    assert panel.a["href"] == "https://db-ip.com/db/download/ip-to-country-lite"
    assert "IP Geolocation by DB-IP" not in text_of(soup_of(stats, "en"))


def test_with_dbip_the_countries_and_attribution_are_shown(stats_with_geoip):
    soup = soup_of(stats_with_geoip, "nl")
    rows = soup.select("#table-countries tbody tr")
    assert [r.td.get_text() for r in rows] == [
        "Nederland (NL)",
        "België (BE)",
        "Duitsland (DE)",
        "ZZ",
    ]
    assert "IP Geolocation by DB-IP" in soup.select_one(".attribution").get_text()
    assert "dbip-country-lite-2026-10.mmdb" in soup.select_one(".attribution").get_text()
    assert "IP to Country Lite’ van DB-IP" not in text_of(soup)


def test_links_to_the_files_next_to_it(tmp_path, stats):
    write_json(stats, tmp_path)
    write_csvs(stats, tmp_path)
    (tmp_path / "goaccess.html").write_text("<!doctype html>", encoding="utf-8")
    soup = BeautifulSoup(write_report(stats, tmp_path, "en").read_text("utf-8"), "html.parser")
    footer_links = [a["href"] for a in soup.select("footer a")]
    assert footer_links == ["goaccess.html", "stats.json", "daily.csv"]


def test_no_links_to_files_that_are_not_there(tmp_path, stats):
    soup = BeautifulSoup(write_report(stats, tmp_path, "en").read_text("utf-8"), "html.parser")
    assert soup.select("footer a") == []


def test_text_is_escaped(stats):
    stats["tables"]["pages"]["rows"][0]["key"] = "/<script>alert(1)</script>"
    soup = soup_of(stats, "en")
    assert soup.find("script") is None
    assert soup.select_one("#table-pages tbody td").get_text() == "/<script>alert(1)</script>"


def test_page_is_small(stats):
    html = render_report(stats, "nl", {"stats.json"})
    assert len(html.encode()) < 60_000


def test_a_period_without_visitors_still_renders(stats):
    """A log of bots only: zeros everywhere, empty tables, flat charts."""
    for key in ("pageviews", "visitors", "visits", "bounce_rate", "avg_visit_seconds"):
        stats[key] = 0
    for day in stats["daily"]:
        day.update(pageviews=0, visitors=0, visits=0)
    for name, table in stats["tables"].items():
        if name == "hours":
            table["rows"] = [{"key": f"{h:02d}", "count": 0} for h in range(24)]
        elif name not in ("status_codes", "bots"):
            table["rows"] = []
    stats["previous"] = {"start": "2026-09-15", "end": "2026-09-24", "pageviews": 0,
                         "visitors": 0, "visits": 0}  # fmt: skip
    soup = soup_of(stats, "en")
    assert card(soup, "Visitors").select_one(".value").get_text(strip=True) == "0"
    assert "= 0%" in card(soup, "Visitors").get_text()
    assert card(soup, "Visit duration").select_one(".value").get_text(strip=True) == "0 s"
    assert len(soup.find_all("svg")) == 2
    assert "No data in this period." in soup.select_one("#table-pages").get_text()


def test_no_days_at_all(stats):
    stats["daily"], stats["monthly"], stats["previous"] = [], [], None
    stats["tables"] = {}
    soup = soup_of(stats, "nl")
    assert soup.find("svg") is None
    assert "Geen gegevens in deze periode." in soup.select_one("#table-pages").get_text()


def test_chart_axis_numbers_are_written_the_readers_way(stats):
    for day in stats["daily"]:
        day["pageviews"] *= 10
    nl = [t.get_text() for t in soup_of(stats, "nl").find("svg").find_all("text")]
    en = [t.get_text() for t in soup_of(stats, "en").find("svg").find_all("text")]
    assert any(re.fullmatch(r"\d\.\d{3}", label) for label in nl), nl
    assert any(re.fullmatch(r"\d,\d{3}", label) for label in en), en


@pytest.mark.parametrize("top", [0, 1, 3, 4, 7, 10, 99, 101, 2_400, 9_999, 123_457])
def test_chart_gridlines_are_round_and_cover_the_tallest_bar(top):
    grid = gridline_values(top)
    assert grid[0] == 0 and grid[-1] >= top and len(grid) <= 5
    step = grid[1]
    assert all(b - a == step for a, b in itertools.pairwise(grid))
    assert str(step).rstrip("0") in ("1", "2", "25", "5")
