"""What search engines, chat previews and feed readers read: JSON-LD, canonical and Open Graph
metadata, the opening hours, the contact page's links, the news articles and their Atom feeds."""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from support import build_site, write_shop_toml

from shop import hours
from shop.site import FEED_TITLES, LANGUAGES, PAGE_PATHS, feed_path

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SITEMAP = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "xhtml": "http://www.w3.org/1999/xhtml",
}
OG_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
JSON_LD_PAGES = ("home", "contact")
PLACEHOLDER = re.compile(r"^\[.*\]$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def other_lang(lang: str) -> str:
    return next(other for other in LANGUAGES if other != lang)


@pytest.fixture(params=["default", "changed"])
def any_site(request):
    """The repo's build (placeholders in it) and the build with every fact filled in."""
    return request.getfixturevalue("site" if request.param == "default" else "changed_site")


def json_ld(site, path: str) -> list[dict]:
    """Every JSON-LD block of a page, parsed (a block that is not JSON fails the test)."""
    return [
        json.loads(el.string)
        for el in site.soup(path).find_all("script", type="application/ld+json")
    ]


def business_of(site, path: str) -> dict:
    blocks = json_ld(site, path)
    assert len(blocks) == 1, f"{path}: {len(blocks)} JSON-LD blocks"
    return blocks[0]


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


# -- JSON-LD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", JSON_LD_PAGES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_json_ld_parses_and_has_no_placeholder(any_site, key, lang):
    data = business_of(any_site, PAGE_PATHS[key][lang])
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "ComputerStore"
    placeholders = [s for s in strings_in(data) if PLACEHOLDER.match(s)]
    assert not placeholders, f"placeholders in the JSON-LD: {placeholders}"
    business = any_site.shop.business
    assert data["name"] == business.trade_name
    assert data["url"] == any_site.shop.site.url.rstrip("/") + "/"
    assert data["email"] == business.email


def test_json_ld_only_on_home_and_contact(site, site_page):
    blocks = json_ld(site, site_page.path)
    assert len(blocks) == (1 if site_page.key in JSON_LD_PAGES else 0)


@pytest.mark.parametrize("key", JSON_LD_PAGES)
def test_filled_in_json_ld_has_what_google_asks_for(changed_site, key):
    """Google's local-business documentation: name and address required; telephone, url,
    geo and openingHoursSpecification recommended. Every value is the one in shop.toml."""
    business = changed_site.shop.business
    data = business_of(changed_site, PAGE_PATHS[key]["nl"])
    address = data["address"]
    assert address["@type"] == "PostalAddress"
    assert address == {
        "@type": "PostalAddress",
        "streetAddress": business.street,
        "postalCode": business.postcode,
        "addressLocality": business.city,
        "addressCountry": business.country_code,
    }
    assert data["telephone"] == business.phone
    assert data["vatID"] == business.btw_id
    assert data["identifier"]["value"] == business.kvk
    assert data["additionalProperty"]["value"] == business.legal_form
    assert data["areaServed"] == list(business.area_served)
    geo = data["geo"]
    assert geo["@type"] == "GeoCoordinates"
    assert (geo["latitude"], geo["longitude"]) == (52.09074, 5.12142)
    # Google wants at least 5 decimal places.
    assert all(len(str(geo[k]).split(".")[1]) >= 5 for k in ("latitude", "longitude"))
    for spec in data["openingHoursSpecification"]:
        assert spec["@type"] == "OpeningHoursSpecification"
        assert set(spec["dayOfWeek"]) <= WEEKDAYS
        assert TIME.match(spec["opens"]) and TIME.match(spec["closes"])
        assert spec["opens"] < spec["closes"]


def test_json_ld_opening_hours_follow_shop_toml(changed_site):
    data = business_of(changed_site, PAGE_PATHS["home"]["nl"])
    hours_by_day = {
        (day, spec["opens"], spec["closes"])
        for spec in data["openingHoursSpecification"]
        for day in spec["dayOfWeek"]
    }
    assert hours_by_day == {
        ("Monday", "10:00", "12:00"),
        ("Monday", "13:00", "16:00"),
        ("Thursday", "10:00", "12:00"),
        ("Thursday", "13:00", "16:00"),
        ("Saturday", "09:30", "13:00"),
    }, "by appointment (Wednesday) and closed days must not be listed as open"
    closed = {
        (s["validFrom"], s["validThrough"], s["opens"], s["closes"])
        for s in data["specialOpeningHoursSpecification"]
    }
    assert closed == {
        ("2099-07-01", "2099-07-01", "00:00", "00:00"),
        ("2099-08-02", "2099-08-15", "00:00", "00:00"),
    }


def test_placeholders_are_left_out_with_one_warning(tmp_path, caplog):
    # A shop.toml of its own: Pelican's loggers drop a message already logged in this process.
    toml = write_shop_toml(tmp_path / "shop.toml")
    with caplog.at_level(logging.WARNING):
        build_site(tmp_path / "output", shop_toml=toml)
    warnings = [r.getMessage() for r in caplog.records if "placeholder" in r.getMessage()]
    assert len(warnings) == 1, warnings
    for key in ("street", "postcode", "city", "phone", "kvk", "btw_id"):
        assert f"[business] {key}" in warnings[0]


# -- Opening hours and the contact page ---------------------------------------------------------

CHANGED_HOURS = {
    "nl": "maandag 10:00–12:00 en 13:00–16:00, woensdag op afspraak, "
    "donderdag 10:00–12:00 en 13:00–16:00, zaterdag 9:30–13:00",
    "en": "Monday 10:00–12:00 and 13:00–16:00, Wednesday by appointment, "
    "Thursday 10:00–12:00 and 13:00–16:00, Saturday 9:30–13:00",
}
CHANGED_CLOSED = {
    "nl": "1 juli 2099, 2 augustus t/m 15 augustus 2099",
    "en": "1 July 2099, 2 August to 15 August 2099",
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_footer_and_contact_show_the_opening_hours_from_shop_toml(changed_site, lang):
    for path in (PAGE_PATHS["home"][lang], PAGE_PATHS["contact"][lang]):
        selector = "footer" if path == PAGE_PATHS["home"][lang] else "main"
        text = changed_site.text(path, selector)
        assert CHANGED_HOURS[lang] in text, text
        assert CHANGED_CLOSED[lang] in text, text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_repo_hours_read_as_before(site, lang):
    """The repo's shop.toml, written out as the two hand-written sentences it replaced said."""
    expected = {
        "nl": "maandag t/m vrijdag 9:00–17:30, zaterdag op afspraak",
        "en": "Monday to Friday 9:00–17:30, Saturday by appointment",
    }[lang]
    assert expected in site.text(PAGE_PATHS["contact"][lang], "footer")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_contact_page_links_to_call_mail_and_the_route(changed_site, lang):
    business = changed_site.shop.business
    main = changed_site.soup(PAGE_PATHS["contact"][lang]).find("main")
    hrefs = [a["href"] for a in main.find_all("a", href=True)]
    assert "tel:+31307654321" in hrefs
    assert f"mailto:{business.email}" in hrefs
    routes = [h for h in hrefs if h.startswith("https://www.openstreetmap.org/directions?")]
    assert len(routes) == 1, hrefs
    assert parse_qs(urlsplit(routes[0]).query)["to"] == [business.geo]
    assert not main.find_all(["iframe", "img", "object", "embed"]), "no embedded map"


def test_route_without_coordinates_goes_to_the_address(site):
    main = site.soup(PAGE_PATHS["contact"]["nl"]).find("main")
    route = next(
        a["href"] for a in main.find_all("a", href=True) if "openstreetmap.org" in a["href"]
    )
    business = site.shop.business
    assert parse_qs(urlsplit(route).query)["to"] == [
        f"{business.street}, {business.postcode} {business.city}, {business.country}"
    ]


# -- Metadata on every page ---------------------------------------------------------------------


def meta(soup, prop: str) -> list[str]:
    return [el.get("content", "") for el in soup.find_all("meta", attrs={"property": prop})]


def test_page_has_canonical_and_open_graph(site, any_page):
    soup = site.soup(any_page.path)
    public = site.shop.site.url.rstrip("/")
    lang = soup.html["lang"]
    description = soup.find("meta", attrs={"name": "description"})["content"]
    assert meta(soup, "og:title") and meta(soup, "og:title")[0].strip()
    assert meta(soup, "og:description") == [description]
    assert meta(soup, "og:site_name") == [site.shop.business.trade_name]
    assert meta(soup, "og:locale") == [OG_LOCALES[lang]]
    canonicals = [el["href"] for el in soup.find_all("link", rel="canonical")]
    if any_page.key == "404":
        assert canonicals == [], "the not-found page has no address of its own"
        return
    assert canonicals == [public + any_page.path]
    assert meta(soup, "og:url") == canonicals
    assert meta(soup, "og:locale:alternate") == [OG_LOCALES[other_lang(lang)]]
    assert meta(soup, "og:type") == ["article" if any_page.is_article else "website"]


def test_page_links_its_language_feed(site, any_page):
    soup = site.soup(any_page.path)
    lang = soup.html["lang"]
    feeds = soup.find_all("link", rel="alternate", type="application/atom+xml")
    assert [el["href"] for el in feeds] == [feed_path(lang)]
    assert FEED_TITLES[lang] in feeds[0]["title"]
    assert site.file_for(feed_path(lang)) is not None


def test_production_canonical_is_the_public_address(production_site):
    soup = production_site.soup(PAGE_PATHS["services"]["en"])
    public = production_site.shop.site.url.rstrip("/")
    assert soup.find("link", rel="canonical")["href"] == public + PAGE_PATHS["services"]["en"]


# -- News: articles, index, feeds, sitemap ------------------------------------------------------


def test_there_is_an_article_in_each_language(site):
    assert {article.lang for article in site.articles} == set(LANGUAGES)


def test_article_links_its_translation(site, article_page):
    soup = site.soup(article_page.path)
    other = other_lang(article_page.lang)
    alternates = {
        el["hreflang"]: site.site_path(el["href"], article_page.path)
        for el in soup.find_all("link", rel="alternate", hreflang=True)
    }
    translations = [a.path for a in site.articles if a.lang == other]
    assert alternates.get(other) in translations, alternates
    switch = soup.find("a", class_="lang-switch")
    assert site.site_path(switch["href"], article_page.path) == alternates[other]
    assert switch.get("lang") == other


@pytest.mark.parametrize("lang", LANGUAGES)
def test_news_index_lists_the_articles_of_its_language(site, lang):
    index = PAGE_PATHS["news"][lang]
    main = site.soup(index).find("main")
    linked = {site.site_path(a["href"], index) for a in main.find_all("a", href=True)}
    articles = {a.path for a in site.articles if a.lang == lang}
    others = {a.path for a in site.articles if a.lang != lang}
    assert articles <= linked, f"missing from {index}: {articles - linked}"
    assert not others & linked


def read_feed(site, lang: str) -> ET.Element:
    """A feed parsed by a real XML parser (malformed XML fails here)."""
    return ET.parse(site.root / feed_path(lang).lstrip("/")).getroot()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_feed_is_atom_with_the_articles_of_its_language(production_site, lang):
    site = production_site
    feed = read_feed(site, lang)
    public = site.shop.site.url.rstrip("/")
    assert feed.tag == f"{ATOM}feed"
    assert feed.get(XML_LANG) == lang
    assert FEED_TITLES[lang] in feed.findtext(f"{ATOM}title")
    assert feed.findtext(f"{ATOM}id") and feed.findtext(f"{ATOM}updated")
    self_links = [el.get("href") for el in feed.findall(f"{ATOM}link[@rel='self']")]
    assert self_links == [public + feed_path(lang)]
    entries = feed.findall(f"{ATOM}entry")
    assert entries, "feed without entries"
    links = set()
    for entry in entries:
        for child in ("title", "id", "updated", "author/" + ATOM + "name"):
            assert (entry.findtext(ATOM + child) or "").strip(), f"entry without {child}"
        href = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
        assert href.startswith(public + "/"), href
        links.add(urlsplit(href).path)
    assert links == {a.path for a in site.articles if a.lang == lang}
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(set(ids)) == len(ids)


def test_development_feed_links_are_absolute_too(site):
    public = site.shop.site.url.rstrip("/")
    for lang in LANGUAGES:
        feed = read_feed(site, lang)
        hrefs = [el.get("href") for el in feed.iter(f"{ATOM}link")]
        assert hrefs and all(h.startswith(public + "/") for h in hrefs), hrefs


def test_sitemap_lists_articles_with_their_alternates(site):
    root = ET.parse(site.root / "sitemap.xml").getroot()
    public = site.shop.site.url.rstrip("/")
    alternates = {
        urlsplit(url.findtext("sm:loc", namespaces=SITEMAP).strip()).path: {
            link.get("hreflang"): urlsplit(link.get("href")).path
            for link in url.findall("xhtml:link", SITEMAP)
        }
        for url in root.findall("sm:url", SITEMAP)
    }
    for article in site.articles:
        assert article.path in alternates, f"{article.path} not in sitemap.xml"
        listed = alternates[article.path]
        assert listed[article.lang] == article.path
        assert set(listed) == set(LANGUAGES), f"{article.path}: alternates {listed}"
        assert all(public + p for p in listed.values())


def test_hours_module_words():
    """Two days running read "and", three or more "t/m"/"to"; nothing open reads as by appointment."""
    parsed = hours.parse({"monday": "9:00-12:00", "tuesday": "9:00-12:00", "sunday": "closed"})
    assert parsed.weekly_text("nl") == "maandag en dinsdag 9:00–12:00"
    assert hours.parse({}).weekly_text("en") == "by appointment"
