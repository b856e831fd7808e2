"""The handler's own pages (form with errors, thank-you, short notices) in the site's theme."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from repairs.settings import Settings
from shop.site import LANGUAGES, PAGE_PATHS, THEME, feed_path, page_path

TEMPLATES = Path(__file__).resolve().parent / "templates"
REF_PATTERN = re.compile(r"R-\d{4}-\d{4,9}")


class Pages:
    """Renders repairs/templates on top of the site's theme (shop/theme: base.html, repair_form.html),
    both package data, so an installed handler needs no checkout."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Pelican's own whitespace settings, plus autoescape: the handler shows visitor input.
        self.env = Environment(
            loader=ChoiceLoader(
                [FileSystemLoader(TEMPLATES), FileSystemLoader(THEME / "templates")]
            ),
            autoescape=True,
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        shop = settings.shop
        self.context = {
            "SITENAME": shop.business.trade_name,
            "SITEURL": settings.site_url,
            "THEME_STATIC_DIR": "theme",
            "SHOP": shop.as_dict(),
            "SITE_PAGES": PAGE_PATHS,
            "FEED_PATHS": {lang: feed_path(lang) for lang in LANGUAGES},
            "FORM_ACTION": shop.site.form_action,
        }

    def render(self, template: str, lang: str, page_key: str | None = None, **values) -> str:
        context = {**self.context, "lang": lang, **values}
        if page_key:
            context["page_key"] = page_key
        return self.env.get_template(template).render(context)

    def form(self, lang: str, values: dict[str, str], errors: dict[str, str]) -> str:
        """The form page again, with the visitor's values and a message by each wrong field."""
        return self.render(
            "repair_request_form.html",
            lang,
            "repair",
            values=values,
            errors=errors,
            newsletter=self.settings.shop.privacy.newsletter,
            privacy_url=self.settings.site_url + page_path("privacy", lang),
        )

    def thanks(self, lang: str, ref: str) -> str:
        return self.render(
            "repair_request_thanks.html",
            lang,
            "thanks",
            ref=ref if REF_PATTERN.fullmatch(ref) else "",
        )

    def notice(self, lang: str, status: int, message: str) -> str:
        """A short page for refusals (400, 403, 413, 415, 429)."""
        return self.render("repair_request_notice.html", lang, None, status=status, message=message)
