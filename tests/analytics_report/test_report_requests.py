"""The report's repair requests: the funnel, requests by source and entry page, in both languages."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from analytics.export import write_csvs
from analytics.report import render_report


def with_requests(stats: dict) -> dict:
    stats.update(form_visits=236, conversions=42, conversion_rate=0.0356, conversion_requests=43)
    stats["previous"]["conversions"] = 30
    stats["tables"]["conversion_sources"] = {
        "counts": "conversions",
        "rows": [
            {"key": "Google", "count": 20, "visits": 450},
            {"key": "(direct)", "count": 15, "visits": 600},
            {"key": "flyer / print", "count": 7, "visits": 40},
        ],
    }
    stats["tables"]["conversion_entry_pages"] = {
        "counts": "conversions",
        "rows": [{"key": "/reparatie-aanvragen/", "count": 30, "visits": 200}],
    }
    return stats


def rows(section) -> list[list[str]]:
    return [
        [cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])]
        for tr in section.select("tbody tr")
    ]


@pytest.mark.parametrize(
    ("lang", "funnel", "sources_head", "direct", "card_label"),
    [
        (
            "nl",
            [
                ["Bezoeken", "1.180", "100,0%"],
                ["bekeken het aanvraagformulier", "236", "20,0%"],
                ["verstuurden een aanvraag", "42", "3,6%"],
            ],
            ["Bron", "Bezoeken", "Aanvragen"],
            "(direct of onbekend)",
            "Reparatieaanvragen",
        ),
        (
            "en",
            [
                ["Visits", "1,180", "100.0%"],
                ["looked at the request form", "236", "20.0%"],
                ["sent a request", "42", "3.6%"],
            ],
            ["Source", "Visits", "Requests"],
            "(direct or unknown)",
            "Repair requests",
        ),
    ],
)
def test_funnel_and_request_tables(stats, lang, funnel, sources_head, direct, card_label):
    soup = BeautifulSoup(render_report(with_requests(stats), lang), "html.parser")
    section = soup.select_one("#requests")
    assert rows(section.select_one("div.scroll")) == funnel
    sources = section.select_one("#table-conversion_sources")
    assert [th.get_text(strip=True) for th in sources.select("thead th")] == sources_head
    assert rows(sources)[1][0] == direct
    assert rows(sources)[0][1:] == (["450", "20"])
    entry = section.select_one("#table-conversion_entry_pages")
    assert rows(entry) == [["/reparatie-aanvragen/", "200", "30"]]
    cards = {c.select_one(".label").get_text(strip=True): c for c in soup.select("li.card")}
    assert cards[card_label].select_one(".value").get_text(strip=True) == "42"
    assert "+40%" in cards[card_label].select_one(".change").get_text()


def test_no_visits_shows_no_rate(stats):
    stats.update(visits=0, form_visits=0, conversions=0)
    soup = BeautifulSoup(render_report(stats, "en"), "html.parser")
    assert rows(soup.select_one("#requests div.scroll"))[2] == ["sent a request", "0", "–"]
    assert "No data in this period." in soup.select_one("#table-conversion_sources").get_text()


def test_request_tables_have_csvs(tmp_path, stats):
    write_csvs(with_requests(stats), tmp_path)
    assert (tmp_path / "conversion_sources.csv").read_text().splitlines() == [
        "key,count,visits",
        "Google,20,450",
        "(direct),15,600",
        "flyer / print,7,40",
    ]
