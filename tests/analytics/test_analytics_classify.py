"""Bots, probes, pages vs assets, devices and referrer grouping."""

from __future__ import annotations

import random
import re
from urllib.parse import urlsplit

import pytest
import ua_parser
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import sample
from analytics.classify import (
    AgentClassifier,
    classify_agent,
    classify_agents,
    is_page,
    is_probe,
    listed_crawlers,
    parse_agent,
    referrer_source,
)


@pytest.mark.parametrize(
    ("ua", "bot"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
        ("", "(no user agent)"),
        ("-", "(no user agent)"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/130.0.0.0 Safari/537.36",
            "HeadlessChrome",
        ),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.32.3", "python-requests"),
    ],
)
def test_bots(ua, bot):
    agent = classify_agent(ua)
    assert agent.bot is not None
    assert bot.lower() in agent.bot.lower()


def _agents_for_every_pattern() -> list[str]:
    """A user agent for each of crawlerdetect's plain patterns (as a name, in upper and lower
    case, beside an exclusion), the sample's browsers and crawlers, and the awkward cases."""
    rng = random.Random(1)
    plain = [
        p.replace("\\", "")
        for p in crawler_patterns
        if not re.search(r"[\[\]()?*+|^$.{}]", re.sub(r"\\[/ .-]", "", p))
    ]
    exclusions = [e.replace("\\", "") for e in exclusion_patterns if "(" not in e]
    agents = [ua for _, ua in sample.BROWSERS] + [row[1] for row in sample.CRAWLERS]
    for name in plain:
        agents += [
            f"Mozilla/5.0 (compatible; {name}/2.1; +https://example.com/)",
            f" {name.upper()} ",
            f"{name.lower()} {rng.choice(exclusions)}",
        ]
    agents += ["Yandex", "YandexSearch/2", "yandexsearchx", "YandexBot/3.0", "Daumoa 1", "Daum/3"]
    agents += ["Sitemaps Generator", "xpymep1.exe", "superbot", "abc-crawl", "Ruby", "Ruby/2", ""]
    return agents


def test_the_crawler_list_answers_as_crawlerdetect_does():
    """The list runs through RE2 (with its one lookahead spelled out): same verdict and same
    name as crawlerdetect's own Python search, for every plain pattern of its list."""
    agents = _agents_for_every_pattern()
    assert len(agents) > 3000
    detector = CrawlerDetect()
    expected = [detector.get_matches() if detector.is_crawler(ua) else None for ua in agents]
    assert listed_crawlers(agents) == expected
    assert sum(e is not None for e in expected) > 2500


def test_agents_told_in_batches_get_the_labels_of_one_pass(monkeypatch):
    """The helper's classifier labels what it is told in any batches (a batch below its
    size, one across it, the rest at the end) as one pass over all of them would."""
    monkeypatch.setattr(AgentClassifier, "BATCH", 50)
    agents = _agents_for_every_pattern()[:400]
    classifier = AgentClassifier()
    for start, end in ((0, 10), (10, 70), (70, 120), (120, 400)):
        classifier.take(agents[start:end])
    labels = classifier.labels()
    assert labels == [(a.bot, a.browser, a.os, a.device) for a in classify_agents(agents)]
    assert sum(bot is not None for bot, *_ in labels) > 300


def test_user_agents_parse_as_ua_parser_itself_parses_them(tmp_path):
    """The extractors are called straight (no cache, no result objects): the same families as
    ua_parser.parse, for the user agents of a varied generated log and every crawler pattern."""
    log = tmp_path / "varied.log"
    sample.generate_log(log, 20_000, seed=3, varied=True)
    agents = {line.split('"')[5] for line in log.read_text().splitlines()}
    agents |= set(_agents_for_every_pattern()[::7]) | {"", "-", " Mozilla/5.0 "}
    assert len(agents) > 1000
    for agent in agents:
        text = agent.strip()
        if text in ("", "-"):
            assert parse_agent(agent) is None
            continue
        full = ua_parser.parse(text)
        assert parse_agent(agent) == (
            full.user_agent.family if full.user_agent else "Other",
            full.os.family if full.os else "Other",
            full.device.family if full.device else "Other",
        ), agent


def test_browser_os_device(agents):
    chrome = classify_agent(agents.chrome)
    assert (chrome.bot, chrome.browser, chrome.os, chrome.device) == (
        None,
        "Chrome",
        "Windows",
        "Desktop",
    )
    iphone = classify_agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    )
    assert (iphone.browser, iphone.os, iphone.device) == ("Mobile Safari", "iOS", "Mobile")
    ipad = classify_agent(
        "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1"
    )
    assert ipad.device == "Tablet"


@pytest.mark.parametrize(
    "path", ["/wp-login.php", "/.env", "/xmlrpc.php", "/.git/config", "/wp-admin/", "/index.php"]
)
def test_probes(path):
    assert is_probe(path)


@pytest.mark.parametrize("path", ["/", "/diensten/", "/en/contact/", "/privacy.html", "/robots"])
def test_not_probes_and_pages(path):
    assert not is_probe(path)
    assert is_page(path)


@pytest.mark.parametrize(
    "path", ["/theme/css/style.css", "/favicon.ico", "/robots.txt", "/sitemap.xml", "/a.JPG", None]
)
def test_assets(path):
    assert not is_page(path)


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.google.nl/", ("google.nl", "search", "Google")),
        ("https://duckduckgo.com/", ("duckduckgo.com", "search", "DuckDuckGo")),
        ("https://search.brave.com/search", ("search.brave.com", "search", "Brave Search")),
        ("https://l.facebook.com/l.php", ("l.facebook.com", "social", "Facebook")),
        ("https://t.co/abc", ("t.co", "social", "X (Twitter)")),
        ("https://blog.example.org/post", ("blog.example.org", "website", "blog.example.org")),
    ],
)
def test_referrer_groups(referrer, expected):
    source = referrer_source(referrer, "www.itfixe.example")
    assert (source.host, source.kind, source.name) == expected


@pytest.mark.parametrize(
    "referrer", ["-", "", None, "https://www.itfixe.example/diensten/", "https://itfixe.example/"]
)
def test_own_site_and_empty_referrers_are_not_sources(referrer):
    assert referrer_source(referrer, "www.itfixe.example") is None


_URL_PART = st.text(alphabet="aAzZ09.-_:/?#@[]% \t", max_size=12)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", " http://", ""]),
    st.sampled_from(["", "www.", "WWW."]),
    st.sampled_from(["google.com", "Bing.com", "t.co", "example.org", "localhost", "a_b.nl"]),
    _URL_PART,
)
def test_the_host_of_a_plain_url_is_the_one_urlsplit_finds(scheme, www, host, rest):
    """Plain http(s) referrers have their host read by a regex: as urlsplit would have."""
    referrer = scheme + www + host + rest
    try:
        expected = (urlsplit(referrer).hostname or "").lower()
    except ValueError:
        expected = None
    got = referrer_source(referrer, "www.itfixe.example")
    if expected is None or "." not in expected:
        assert got is None
    else:
        assert got == referrer_source(f"https://{expected}/", "www.itfixe.example")
