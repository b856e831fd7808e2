"""The site's page addresses, per language: Pelican writes pages there, the handler links to them."""

from __future__ import annotations

LANGUAGES = ("nl", "en")
DEFAULT_LANG = "nl"

# page key -> {lang: path}. Content files name their key as `Slug:`; pelicanconf turns this
# map into each page's url/save_as, so a page moves by editing one line here.
PAGE_PATHS: dict[str, dict[str, str]] = {
    "home": {"nl": "/", "en": "/en/"},
    "services": {"nl": "/diensten/", "en": "/en/services/"},
    "repair": {"nl": "/reparatie-aanvragen/", "en": "/en/repair-request/"},
    "thanks": {"nl": "/bedankt/", "en": "/en/thank-you/"},
    "contact": {"nl": "/contact/", "en": "/en/contact/"},
    "privacy": {"nl": "/privacy/", "en": "/en/privacy/"},
}


def page_path(key: str, lang: str = DEFAULT_LANG) -> str:
    """Site-relative path of a page, e.g. page_path("thanks", "en") == "/en/thank-you/"."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANG
    return PAGE_PATHS[key][lang]
