"""Pelican plugin: put pages at the addresses in `shop.site` and fill shop.toml facts into page text.

Page text may use Jinja expressions such as `{{ SHOP.privacy.ipv4_prefix }}`; they are rendered
at build time from the same settings the handler and the analytics tool read.
"""

from __future__ import annotations

import re

from jinja2 import Environment, StrictUndefined
from pelican import signals
from pelican.contents import Page

from shop.site import PAGE_PATHS

# Markdown wraps a `{% if %}` standing on its own line in a paragraph; unwrap it so a
# section left out by the condition leaves no empty <p> behind.
LONE_STATEMENT = re.compile(r"<p>\s*(\{%[^{}]*%\})\s*</p>")


def place_page(content) -> None:
    """Give each page the url and file name its key has in PAGE_PATHS."""
    if not isinstance(content, Page) or content.slug not in PAGE_PATHS:
        return
    path = PAGE_PATHS[content.slug].get(content.lang)
    if path is None:
        return
    content.override_url = path.lstrip("/")
    content.override_save_as = path.lstrip("/") + "index.html"


def render_facts(content) -> None:
    """Render Jinja expressions in page text with the shop's settings (unknown names fail the build)."""
    if not isinstance(content, Page) or (
        "{{" not in content._content and "{%" not in content._content
    ):
        return
    env = Environment(undefined=StrictUndefined, autoescape=False)
    context = {k: v for k, v in content.settings.items() if k.isupper()}
    context["page"] = content
    text = LONE_STATEMENT.sub(r"\1", content._content)
    content._content = env.from_string(text).render(context)


def register() -> None:
    signals.content_object_init.connect(place_page)
    signals.content_object_init.connect(render_facts)
