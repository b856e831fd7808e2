"""POST → stored → 303 → thank-you page → two mails: once over real HTTP (`repairs serve`), the
pages, refusals and headers in-process (TestClient); the mails always through a real SMTP sink."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from shop.headers import security_headers

REF = re.compile(r"R-\d{4}-\d{4}")


def test_valid_request_is_stored_then_mailed(served_handler, smtp_sink, make_form):
    handler = served_handler
    response = handler.post(make_form(), follow_redirects=False)

    assert response.status_code == 303
    assert "server" not in response.headers  # uvicorn's header is off
    location = response.headers["location"]
    assert location.startswith("/api/repair-request/thanks?ref=R-")
    ref = REF.search(location).group()
    (row,) = handler.rows()
    assert row["ref"] == ref
    assert (row["name"], row["email"], row["phone"]) == (
        "Jan Jansen",
        "jan@example.nl",
        "+31 6 12345678",
    )
    assert row["address"] == "Dorpsstraat 1\n1234 AB Ergens"
    assert row["status"] == "new" and row["lang"] == "nl" and not row["newsletter"]
    assert not {"ip", "client", "remote_addr", "user_agent"} & set(row.keys())

    thanks = handler.post(make_form(email="piet@example.nl"))  # httpx follows the 303
    assert thanks.status_code == 200
    page = BeautifulSoup(thanks.text, "html.parser")
    assert page.html["lang"] == "nl"
    assert REF.search(page.find("main").get_text())

    mails = smtp_sink.wait_for(4)
    notice = next(m for m in mails if m["To"] == "owner@itfixe.example" and ref in m["Subject"])
    assert "jan@example.nl" in notice["Reply-To"]
    assert "Start niet meer op na een update." in notice.get_content()
    confirmation = next(m for m in mails if m["To"] == "jan@example.nl")
    body = confirmation.get_content()
    assert ref in confirmation["Subject"] and ref in body
    # No free text from the form in the customer's mail: it must not relay anyone's message.
    for text in ("Jan Jansen", "Start niet meer", "Laptop", "Dorpsstraat"):
        assert text not in body and text not in confirmation["Subject"]

    handler.stop()
    log = handler.log.read_text()
    assert f"{ref}" in log  # the outbox logs what it sent, by reference only
    for personal in ("jan@example.nl", "piet@example.nl", "Jan Jansen", "Start niet", "POST /"):
        assert personal not in log


def test_english_request_gets_english_pages_and_mail(handler, smtp_sink, make_form):
    response = handler.post(make_form(lang="en"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("&lang=en")
    page = handler.post(make_form(lang="en", email="ann@example.com"))
    assert BeautifulSoup(page.text, "html.parser").html["lang"] == "en"
    assert "reference number" in page.text
    mails = smtp_sink.wait_for(4)
    confirmation = next(m for m in mails if m["To"] == "ann@example.com")
    assert "Dear customer" in confirmation.get_content()


@pytest.mark.parametrize(
    ("lang", "message"),
    [("nl", "Vul een geldig e-mailadres in"), ("en", "Please enter a valid e-mail address")],
)
def test_invalid_input_rerenders_the_form_with_messages(handler, make_form, lang, message):
    data = make_form(lang=lang, name="", email="jan@", description="<script>alert(1)</script>")
    response = handler.post(data)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)" not in response.text  # escaped, not executed
    page = BeautifulSoup(response.text, "html.parser")
    assert page.html["lang"] == lang
    assert page.find(attrs={"name": "email"})["value"] == "jan@"
    assert (
        page.find("textarea", attrs={"name": "description"}).get_text()
        == "<script>alert(1)</script>"
    )
    assert page.find(attrs={"name": "phone"})["value"] == "06 12345678"
    assert message in page.get_text()
    assert page.find("link", rel="stylesheet")["href"].endswith("/css/style.css")
    assert handler.rows() == []


def test_api_clients_get_json_errors(handler, make_form):
    response = handler.post(
        make_form(lang="en", phone="12", description=""), headers={"Accept": "application/json"}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"phone", "description"}
    assert errors["phone"].startswith("Please enter a valid phone number")


@pytest.mark.parametrize("honeypot", ["http://spam.example", None], ids=["filled", "missing"])
def test_honeypot_gets_a_fake_success_and_nothing_else(handler, smtp_sink, make_form, honeypot):
    bot = handler.post(make_form(website=honeypot, email="bot@example.org"), follow_redirects=False)
    assert bot.status_code == 303
    assert REF.search(bot.headers["location"])
    assert handler.rows() == []

    handler.post(make_form())  # a real one afterwards: its two mails are the only ones
    smtp_sink.wait_for(2)
    (row,) = handler.rows()
    assert row["email"] == "jan@example.nl"
    handler.stop()  # the outbox has nothing more to send
    assert len(smtp_sink.messages) == 2
    assert all("bot@example.org" not in str(m) for m in smtp_sink.messages)


def test_abuse_is_refused(handler, make_form):
    post = handler.post
    assert post(make_form(), headers={"Origin": "https://evil.example"}).status_code == 403
    cross_site = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    assert post(make_form(), headers=cross_site).status_code == 403
    assert post(make_form(), headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # Referrer-Policy: no-referrer
    assert post(make_form(), headers=same).status_code == 200
    assert post(make_form(), headers={"Origin": handler.url}).status_code == 200  # same origin
    assert post(make_form(description="x" * 33_000)).status_code == 413
    assert post(make_form(extra="1")).status_code == 400
    assert post(make_form(), files={"upload": ("a.txt", b"hi")}).status_code == 415
    json_post = handler.post(None, json=make_form())
    assert json_post.status_code == 415
    assert post(make_form(newsletter="maybe")).status_code == 400
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    for raw in (b"name=a&name=b&email=a%40b.nl&description=x&website=", b"name=%ff&website="):
        response = handler.client.post("/api/repair-request", content=raw, headers=form_type)
        assert response.status_code == 400  # a field twice; not UTF-8
    assert len(handler.rows()) == 2


def test_refusals_before_the_form_is_read_follow_the_request_headers(handler, make_form):
    evil = {"Origin": "https://evil.example"}
    dutch = handler.post(make_form(lang="en"), headers=evil)
    assert dutch.status_code == 403 and "alleen vanaf onze eigen website" in dutch.text
    english = handler.post(make_form(), headers={**evil, "Accept-Language": "en-GB,en;q=0.8"})
    assert english.status_code == 403 and "only be sent from our own website" in english.text
    api = handler.post(make_form(), headers={**evil, "Accept": "application/json"})
    assert api.status_code == 403 and "eigen website" in api.json()["error"]
    # Of a repeated header the first counts, as in Starlette's `request.headers`.
    twice = [("Origin", "https://evil.example"), ("Origin", handler.url)]
    assert handler.post(make_form(), headers=twice).status_code == 403
    assert handler.rows() == []


def test_allowed_origins_may_post(start_app, smtp_sink, env_for, make_form):
    handler = start_app(env_for(smtp_sink, REPAIRS_ALLOWED_ORIGINS="https://www.itfixe.example"))
    ok = handler.post(make_form(), headers={"Origin": "https://www.itfixe.example"})
    assert ok.status_code == 200
    refused = handler.post(make_form(), headers={"Origin": "https://itfixe.example"})
    assert refused.status_code == 403


def test_rate_limits_per_client_and_per_recipient(start_app, smtp_sink, env_for, make_form):
    handler = start_app(
        env_for(smtp_sink, REPAIRS_CLIENT_LIMIT="4/600", REPAIRS_RECIPIENT_LIMIT="2/3600")
    )
    statuses = [handler.post(make_form(), follow_redirects=False).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]  # the third to the same address
    other = handler.post(make_form(email="other@example.nl"), follow_redirects=False)
    assert other.status_code == 303
    limited = handler.post(make_form(email="third@example.nl"), follow_redirects=False)
    assert limited.status_code == 429  # the client's fifth post in the window
    assert int(limited.headers["retry-after"]) > 0
    assert "Probeer het over" in limited.text
    assert len(handler.rows()) == 3


def test_security_headers_are_the_sites_and_nothing_is_cached(handler, make_form):
    response = handler.post(make_form(name=""))
    headers = response.headers
    for name, value in security_headers().items():
        assert headers[name] == value
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_a_site_on_another_origin_may_style_the_handlers_pages(
    start_app, smtp_sink, env_for, make_form
):
    site = "https://www.itfixe.example"
    handler = start_app(env_for(smtp_sink, REPAIRS_SITE_URL=site))
    response = handler.post(make_form(email=""))
    assert f"style-src 'self' {site}" in response.headers["content-security-policy"]
    assert f'href="{site}/theme/css/style.css"' in response.text


def test_thanks_page_shows_only_a_reference(handler):
    page = handler.client.get("/api/repair-request/thanks?ref=<b>x</b>&lang=en")
    assert page.status_code == 200 and "<b>x</b>" not in page.text
    form_page = handler.client.get("/api/repair-request")
    assert form_page.status_code == 303 and form_page.headers["location"] == "/reparatie-aanvragen/"
