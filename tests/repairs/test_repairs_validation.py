"""Field checks: what is cleaned, what is refused, in which language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from repairs.store import months_before
from repairs.validation import FormError, clean_text, parse_body, validate


@pytest.mark.parametrize(
    ("raw", "multiline", "clean"),
    [
        ("  Jan \r\n Jansen\t", False, "Jan Jansen"),
        ("nul\x00byte", False, "nul byte"),
        ("a\u202eb", False, "a b"),
        ("Straat 1\r\n1234 AB\rErgens\x07", True, "Straat 1\n1234 AB\nErgens"),
        ("e\u0301", False, "é"),  # NFC
        ("שלום\u200f", False, "שלום\u200f"),  # right-to-left marks stay
    ],
)
def test_clean_text(raw, multiline, clean):
    assert clean_text(raw, multiline) == clean


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("06 12345678", "+31 6 12345678"),
        ("020-1234567", "+31 20 123 4567"),
        ("+32 470 12 34 56", "+32 470 12 34 56"),
    ],
)
def test_phone_numbers_are_stored_in_international_format(phone, stored):
    form, errors = validate(
        {"name": "A", "email": "a@example.nl", "description": "x", "phone": phone}, False
    )
    assert errors == {} and form.phone == stored


@pytest.mark.parametrize(
    ("changes", "field", "lang", "start"),
    [
        ({"email": "a@b"}, "email", "nl", "Vul een geldig e-mailadres in"),
        ({"email": "a@example.nl\r\nBcc: x@y.z"}, "email", "en", "Please enter a valid e-mail"),
        ({"phone": "12"}, "phone", "en", "Please enter a valid phone"),
        ({"name": "   "}, "name", "nl", "Vul uw naam in"),
        ({"device": "x" * 201}, "device", "en", "This field takes at most 200"),
    ],
)
def test_refusals_name_the_field_in_the_visitors_language(changes, field, lang, start):
    data = {"name": "A", "email": "a@example.nl", "description": "x", "lang": lang, **changes}
    form, errors = validate(data, False)
    assert form is None and list(errors) == [field] and errors[field].startswith(start)


def test_newsletter_only_when_offered():
    data = {"name": "A", "email": "a@example.nl", "description": "x", "newsletter": "yes"}
    assert validate(data, True)[0].newsletter is True
    assert validate(data, False)[0].newsletter is False


@pytest.mark.parametrize(
    "body",
    [b"name=a&name=b", b"evil=1", b"name=%ff", "name=é".encode(), b"&".join([b"lang=nl"] * 40)],
)
def test_bodies_that_are_not_our_form(body):
    with pytest.raises(FormError):
        parse_body(body)


def test_months_before_clamps_to_month_end():
    moment = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert months_before(moment, 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert months_before(moment, 24) == datetime(2024, 3, 31, 12, tzinfo=UTC)
    assert months_before(moment, 15).date().isoformat() == "2024-12-31"
