"""The Pelican plugin: shop.toml facts rendered into page text, conditions leave no empty paragraph."""

from types import SimpleNamespace

from pelican.contents import Page

from shop import pelican_plugin


def render(html: str, **settings) -> str:
    page = Page.__new__(Page)  # only the attributes render_facts reads
    page._content = html
    page.settings = settings
    pelican_plugin.render_facts(page)
    return page._content


def test_facts_come_from_the_settings():
    shop = SimpleNamespace(privacy=SimpleNamespace(ipv4_prefix=16))
    assert render("<p>Masked to /{{ SHOP.privacy.ipv4_prefix }}.</p>", SHOP=shop) == (
        "<p>Masked to /16.</p>"
    )


def test_a_condition_on_its_own_line_leaves_no_empty_paragraph():
    html = "<p>{% if ON %}</p>\n<p>News.</p>\n<p>{% endif %}</p>\n<p>End.</p>"
    assert render(html, ON=False).split() == ["<p>End.</p>"]
    assert render(html, ON=True).split() == ["<p>News.</p>", "<p>End.</p>"]


def test_a_condition_inside_a_paragraph_is_left_alone():
    html = "<p>{% if ON %}Yes{% endif %} and more</p>\n<p>{% if ON %}</p>"
    assert render(html + "<p>{% endif %}</p>", ON=True).startswith("<p>Yes and more</p>")
