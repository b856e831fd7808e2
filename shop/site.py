"""The site's page addresses, per language: Pelican writes pages there, the handler links to them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

LANGUAGES = ("nl", "en")
DEFAULT_LANG = "nl"
# The shop's clock: article dates, reference-number years, the report's days and times.
TIME_ZONE = "Europe/Amsterdam"

# page key -> {lang: path}. Content files name their key as `Slug:`; pelicanconf turns this
# map into each page's url/save_as, so a page moves by editing one line here.
# The site's Pelican theme, package data: the handler renders the same templates when installed.
THEME = Path(__file__).resolve().parent / "theme"
PAGE_PATHS: dict[str, dict[str, str]] = {
    "home": {"nl": "/", "en": "/en/"},
    "services": {"nl": "/diensten/", "en": "/en/services/"},
    "news": {"nl": "/nieuws/", "en": "/en/news/"},
    "repair": {"nl": "/reparatie-aanvragen/", "en": "/en/repair-request/"},
    "thanks": {"nl": "/bedankt/", "en": "/en/thank-you/"},
    "contact": {"nl": "/contact/", "en": "/en/contact/"},
    "privacy": {"nl": "/privacy/", "en": "/en/privacy/"},
}

# Articles live under their language's news page: /nieuws/<slug>/, /en/news/<slug>/.
NEWS_KEY = "news"
FEED_TITLES = {"nl": "Nieuws", "en": "News"}


def article_path(lang: str, slug: str) -> str:
    """Site-relative path of a news article: under its language's news page."""
    return f"{PAGE_PATHS[NEWS_KEY][lang]}{slug}/"


def feed_path(lang: str) -> str:
    """Site-relative path of a language's Atom feed of news articles."""
    return f"/feeds/{lang}.atom.xml"


def route_url(destination: str) -> str:
    """A link to the route planner on openstreetmap.org, ending at `destination` (an address
    or "latitude, longitude"): a plain link, so no map loads from another origin on our pages."""
    return "https://www.openstreetmap.org/directions?" + urlencode({"to": destination})


def page_path(key: str, lang: str = DEFAULT_LANG) -> str:
    """Site-relative path of a page, e.g. page_path("thanks", "en") == "/en/thank-you/"."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANG
    return PAGE_PATHS[key][lang]
