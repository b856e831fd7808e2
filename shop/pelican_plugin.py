"""Pelican plugin: put pages and articles at the addresses in `shop.site`, fill shop.toml facts into
their text, give templates the shop's JSON-LD, and name each language's news feed.

Page text may use Jinja expressions such as `{{ SHOP.privacy.ipv4_prefix }}`; they are rendered
at build time from the same settings the handler and the analytics tool read.
"""

from __future__ import annotations

import logging
import re

from feedgenerator import get_tag_uri
from jinja2 import Environment, StrictUndefined
from pelican import signals
from pelican.contents import Article, Page

from shop import config, structured_data
from shop.site import FEED_TITLES, LANGUAGES, NEWS_KEY, PAGE_PATHS, article_path, feed_path

logger = logging.getLogger(__name__)

# Markdown wraps a `{% if %}` standing on its own line in a paragraph; unwrap it so a
# section left out by the condition leaves no empty <p> behind.
LONE_STATEMENT = re.compile(r"<p>\s*(\{%[^{}]*%\})\s*</p>")


def place_page(content) -> None:
    """Give each page the url and file name its key has in PAGE_PATHS, each article its place
    under its language's news page; an article without a `Key:` is its own translation group."""
    if isinstance(content, Article):
        if not hasattr(content, "key"):
            content.key = content.slug
        if content.status == "draft":
            return
        path = article_path(content.lang, content.slug) if content.lang in LANGUAGES else None
    elif isinstance(content, Page) and content.slug in PAGE_PATHS:
        path = PAGE_PATHS[content.slug].get(content.lang)
    else:
        return
    if path is None:
        return
    content.override_url = path.lstrip("/")
    content.override_save_as = path.lstrip("/") + "index.html"


def add_structured_data(pelican) -> None:
    """Put the shop's JSON-LD in the template context; warn once about placeholders left out."""
    shop = pelican.settings["SHOP_CONFIG"]
    pelican.settings["SHOP_JSON_LD"] = structured_data.script_json(
        structured_data.local_business(shop)
    )
    pelican.settings["STRUCTURED_DATA_PAGES"] = structured_data.PAGES
    left_out = config.placeholders(shop)
    if left_out:
        logger.warning(
            "%s: still a [placeholder], left out of the structured data for search engines: %s",
            shop.path,
            ", ".join(left_out),
        )


def name_feed(context, feed) -> None:
    """Title, language and links of a language's news feed: Pelican names all feeds alike, and
    in development (SITEURL "") writes relative links, which feed readers cannot follow."""
    public_url = context.get("SITEURL") or context["SHOP_CONFIG"].site.url.rstrip("/")
    for item in feed.items:
        if item["link"].startswith("/"):
            item["link"] = public_url + item["link"]
            item["unique_id"] = get_tag_uri(item["link"], item["pubdate"])
    for lang, title in FEED_TITLES.items():
        if feed.feed["feed_url"].endswith(feed_path(lang)):
            feed.feed["title"] = f"{context['SITENAME']} – {title}"
            feed.feed["language"] = lang
            feed.feed["link"] = feed.feed["id"] = public_url + PAGE_PATHS[NEWS_KEY][lang]


def render_facts(content) -> None:
    """Render Jinja expressions in page text with the shop's settings (unknown names fail the build)."""
    if not isinstance(content, Page | Article) or (
        "{{" not in content._content and "{%" not in content._content
    ):
        return
    env = Environment(undefined=StrictUndefined, autoescape=False)
    context = {k: v for k, v in content.settings.items() if k.isupper()}
    context["page"] = content
    text = LONE_STATEMENT.sub(r"\1", content._content)
    content._content = env.from_string(text).render(context)


def register() -> None:
    signals.initialized.connect(add_structured_data)
    signals.feed_generated.connect(name_feed)
    signals.content_object_init.connect(place_page)
    signals.content_object_init.connect(render_facts)
