"""The real form on the built site, served with the handler by one `repairs serve --site`."""

from __future__ import annotations

import re

import httpx
import pytest

REF = re.compile(r"R-\d{4}-\d{4}")


@pytest.fixture
def preview(start_handler, smtp_sink, env_for, built_site):
    return start_handler(env_for(smtp_sink), site=built_site)


@pytest.mark.browser
def test_browser_fills_in_the_form_and_lands_on_thank_you(preview, smtp_sink, page):
    page.goto(preview.url + "/reparatie-aanvragen/")
    page.fill("form [name=name]", "Anna de Vries")
    page.fill("form [name=email]", "anna@example.nl")
    page.fill("form [name=phone]", "06 98765432")
    page.fill("form [name=device]", "Desktop-pc")
    page.fill("form [name=description]", "Maakt een piepend geluid bij het opstarten.")
    page.locator("form [type=submit]").click()
    page.wait_for_url(re.compile(r"/api/repair-request/thanks\?ref=R-"))

    text = page.locator("main").inner_text()
    ref = REF.search(text).group()
    assert page.locator("html").get_attribute("lang") == "nl"
    mails = smtp_sink.wait_for(2)
    assert {m["To"] for m in mails} == {"owner@itfixe.example", "anna@example.nl"}
    assert all(ref in m["Subject"] for m in mails)
    (row,) = preview.rows()
    assert (row["ref"], row["name"], row["phone"]) == (ref, "Anna de Vries", "+31 6 98765432")


def test_preview_serves_the_site_with_its_404(preview, built_site):
    home = httpx.get(preview.url + "/")
    assert home.status_code == 200
    assert home.text == (built_site / "index.html").read_text(encoding="utf-8")
    # The site's own headers (its _headers file for static hosts) on the preview as well.
    headers_file = (built_site / "_headers").read_text(encoding="utf-8")
    csp = home.headers["content-security-policy"]
    assert f"Content-Security-Policy: {csp}" in headers_file
    english = httpx.get(preview.url + "/en/repair-request/")
    assert english.status_code == 200 and 'action="/api/repair-request"' in english.text
    missing = httpx.get(preview.url + "/no-such-page/")
    assert missing.status_code == 404
    assert missing.text == (built_site / "404.html").read_text(encoding="utf-8")
