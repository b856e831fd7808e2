"""shop.toml on the page: footer facts, the privacy statement's numbers, the newsletter, the form."""

from __future__ import annotations

import re

import pytest
from support import build_site, write_shop_toml

from shop import config
from shop.site import LANGUAGES, PAGE_PATHS

FORM_FIELDS = {"name", "company", "address", "email", "phone", "device", "description", "lang"}
REQUIRED_FIELDS = {"name", "email", "description"}
HONEYPOT = "website"
NEWSLETTER_WORD = {"nl": "nieuwsbrief", "en": "newsletter"}
DAYS = {"nl": r"dag(en)?", "en": r"days?"}
MONTHS = {"nl": r"maand(en)?", "en": r"months?"}


@pytest.fixture(params=["default", "changed"])
def any_site(request):
    """The repo's build and the build with every shop.toml fact changed."""
    return request.getfixturevalue("site" if request.param == "default" else "changed_site")


def test_footer_shows_the_business_facts(any_site, any_page):
    business = any_site.shop.business
    footer = any_site.text(any_page.path, "footer")
    facts = {
        "trade name": business.trade_name,
        "KvK number": business.kvk,
        "street": business.street,
        "postcode": business.postcode,
        "city": business.city,
        "e-mail": business.email,
    }
    missing = {what: value for what, value in facts.items() if value not in footer}
    assert not missing, f"{any_page.path} footer lacks {missing}: {footer!r}"


def statement_patterns(privacy: config.Privacy, lang: str) -> dict[str, str]:
    return {
        "IPv4 mask": rf"/\s?{privacy.ipv4_prefix}\b",
        "IPv6 mask": rf"/\s?{privacy.ipv6_prefix}\b",
        "raw-log retention": rf"\b{privacy.raw_log_retention_days}\s+{DAYS[lang]}\b",
        "anonymised-lines retention": (
            rf"\b{privacy.anonymised_log_retention_days}\s+{DAYS[lang]}\b"
        ),
        "request retention": rf"\b{privacy.closed_request_retention_months}\s+{MONTHS[lang]}\b",
        "open request retention": rf"\b{privacy.open_request_retention_months}\s+{MONTHS[lang]}\b",
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_statement_prints_the_settings(any_site, lang):
    text = any_site.text(PAGE_PATHS["privacy"][lang], "main")
    patterns = statement_patterns(any_site.shop.privacy, lang)
    missing = [what for what, pattern in patterns.items() if not re.search(pattern, text)]
    assert not missing, f"statement does not say the {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_statement_lists_everything_the_statistics_keep(site, lang):
    """Each kind of data at rest is named with its retention, from shop.toml and the fixed
    limits the analytics tool obeys."""
    text = site.text(PAGE_PATHS["privacy"][lang], "main")
    hours = {"nl": "uur", "en": "hours"}[lang]
    limits = config.LIMITS
    assert re.search(rf"\b{limits['visitor_key_hours']} {hours}\b", text)
    assert re.search(rf"\b{limits['files_read_days']}\s+{DAYS[lang]}\b", text)
    kinds = {
        "nl": ["ruwe logbestanden", "ingekorte logregels", "tellingen per dag", "sleutel per dag"],
        "en": ["raw log files", "anonymised log lines", "daily counts", "one key per day"],
    }[lang]
    assert all(kind in text.lower() for kind in kinds), kinds


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_statement_follows_a_changed_setting(site, changed_site, lang):
    """The changed build's numbers appear nowhere in the default statement: they came from shop.toml."""
    text = site.text(PAGE_PATHS["privacy"][lang], "main")
    patterns = statement_patterns(changed_site.shop.privacy, lang)
    stale = [what for what, pattern in patterns.items() if re.search(pattern, text)]
    assert not stale, f"default statement already says the changed {stale}"


def form_of(site, lang: str):
    forms = site.soup(PAGE_PATHS["repair"][lang]).find_all("form")
    assert len(forms) == 1, f"{len(forms)} forms on the repair page"
    return forms[0]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_newsletter_on_shows_checkbox_and_statement(changed_site, lang):
    box = form_of(changed_site, lang).find("input", attrs={"name": "newsletter"})
    assert box is not None, "no newsletter checkbox"
    assert (box.get("type"), box.get("value")) == ("checkbox", "yes")
    assert not box.has_attr("checked"), "opt-in must start unchecked"
    statement = changed_site.text(PAGE_PATHS["privacy"][lang], "main").lower()
    assert NEWSLETTER_WORD[lang] in statement


@pytest.mark.parametrize("lang", LANGUAGES)
def test_newsletter_off_shows_neither(no_newsletter_site, lang):
    assert form_of(no_newsletter_site, lang).find(attrs={"name": "newsletter"}) is None
    statement = no_newsletter_site.text(PAGE_PATHS["privacy"][lang], "main").lower()
    assert NEWSLETTER_WORD[lang] not in statement


def field_names(form) -> set[str]:
    return {
        el["name"] for el in form.find_all(["input", "textarea", "select"], attrs={"name": True})
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_repair_form_posts_the_contract_fields(any_site, lang):
    form = form_of(any_site, lang)
    assert form.get("action") == any_site.shop.site.form_action
    assert form.get("method", "").lower() == "post"
    assert form.get("enctype", "application/x-www-form-urlencoded") == (
        "application/x-www-form-urlencoded"
    )
    expected = (
        FORM_FIELDS | {HONEYPOT} | ({"newsletter"} if any_site.shop.privacy.newsletter else set())
    )
    assert field_names(form) == expected
    required = {el["name"] for el in form.find_all(attrs={"name": True, "required": True})}
    assert required == REQUIRED_FIELDS
    assert form.find("textarea", attrs={"name": "description"}) is not None
    lang_field = form.find("input", attrs={"name": "lang"})
    assert (lang_field.get("type"), lang_field.get("value")) == ("hidden", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_repair_form_has_a_hidden_empty_honeypot(site, lang):
    trap = form_of(site, lang).find("input", attrs={"name": HONEYPOT})
    assert trap is not None and not trap.get("value"), "honeypot missing or not empty"
    assert trap.get("tabindex") == "-1"
    assert trap.get("autocomplete") == "off"
    hidden = [el for el in [trap, *trap.parents] if el.get("aria-hidden") == "true"]
    assert hidden, "honeypot is not hidden from assistive tech (aria-hidden)"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_repair_form_links_to_the_privacy_statement(site, lang):
    base = PAGE_PATHS["repair"][lang]
    links = {site.site_path(a["href"], base) for a in form_of(site, lang).find_all("a", href=True)}
    assert PAGE_PATHS["privacy"][lang] in links


def test_bad_shop_toml_fails_the_build_naming_the_key(tmp_path):
    toml = write_shop_toml(tmp_path / "shop.toml", privacy={"ipv4_prefix": 33})
    with pytest.raises(config.ConfigError, match=r"\[privacy\] ipv4_prefix"):
        build_site(tmp_path / "output", shop_toml=toml)
    assert not (tmp_path / "output" / "index.html").exists()
