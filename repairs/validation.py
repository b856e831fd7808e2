"""The repair form's fields: parse the posted body, clean and check each value, messages in nl/en."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shop.site import DEFAULT_LANG, LANGUAGES

# Stored personal fields, in form order, with their maximum length in characters.
FIELD_LIMITS = {
    "name": 200,
    "company": 200,
    "address": 500,
    "email": 254,
    "phone": 40,
    "device": 200,
    "description": 5000,
}
REQUIRED = ("name", "email", "description")
MULTILINE = ("address", "description")
HONEYPOT = "website"
FORM_FIELDS = frozenset(FIELD_LIMITS) | {"newsletter", "lang", HONEYPOT}

MESSAGES = {
    "nl": {
        "name": "Vul uw naam in.",
        "email": "Vul uw e-mailadres in.",
        "description": "Beschrijf kort wat er mis is.",
        "email_invalid": "Vul een geldig e-mailadres in, zoals naam@voorbeeld.nl.",
        "phone_invalid": "Vul een geldig telefoonnummer in, zoals 06 12345678.",
        "too_long": "Dit veld mag maximaal {limit} tekens bevatten.",
        "lang": "Kies nl of en.",
    },
    "en": {
        "name": "Please enter your name.",
        "email": "Please enter your e-mail address.",
        "description": "Please describe briefly what is wrong.",
        "email_invalid": "Please enter a valid e-mail address, such as name@example.com.",
        "phone_invalid": "Please enter a valid phone number, such as +31 6 12345678.",
        "too_long": "This field takes at most {limit} characters.",
        "lang": "Choose nl or en.",
    },
}

# C0/C1 controls, line and paragraph separators, and the bidi embedding/override/isolate
# characters that can disguise text; right-to-left *marks* (U+200E/F) stay, names need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile(r"\r\n?|\n")
_SPACES = re.compile(r"\s+")


class FormError(ValueError):
    """The body is not a form this handler accepts (answered with 400)."""


@dataclass(frozen=True)
class RepairForm:
    """A checked request: cleaned field values, ready to store."""

    lang: str
    name: str
    email: str
    description: str
    company: str = ""
    address: str = ""
    phone: str = ""
    device: str = ""
    newsletter: bool = False


def parse_body(body: bytes) -> dict[str, str]:
    """Decode an application/x-www-form-urlencoded body; unknown or repeated fields are errors."""
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=len(FORM_FIELDS),
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise FormError(f"not a valid form body ({type(e).__name__})") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key not in FORM_FIELDS:
            raise FormError(f"unknown field {key[:40]!r}")
        if key in form:
            raise FormError(f"field {key!r} given twice")
        form[key] = value
    return form


def form_lang(form: dict[str, str]) -> str:
    lang = form.get("lang", "")
    return lang if lang in LANGUAGES else DEFAULT_LANG


def clean_text(value: str, multiline: bool) -> str:
    """Unicode NFC, no control characters; one line unless `multiline` (then \\n line breaks)."""
    if value.isascii() and value.isprintable():  # the common case: already clean, one line
        return value.strip() if multiline else " ".join(value.split())
    value = unicodedata.normalize("NFC", value)
    if multiline:
        lines = _LINE_BREAK.split(value)
        return "\n".join(_CONTROL.sub("", line).rstrip() for line in lines).strip()
    return _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()


def check_email(value: str) -> str | None:
    """The normalised address, or None if it is not a usable e-mail address."""
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return checked.normalized


def ascii_address(value: str) -> str:
    """The address with its domain in ASCII (IDNA) form, as any SMTP server takes it.

    Raises ValueError for an address that has no ASCII form (a non-ASCII local part).
    """
    if value.isascii():
        return value
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise ValueError(f"no ASCII form of the address: {e}") from None
    if not checked.ascii_email:
        raise ValueError("no ASCII form of the address")
    return checked.ascii_email


def check_phone(value: str) -> str | None:
    """The number in international format (Dutch numbers may omit +31), or None if impossible."""
    try:
        number = phonenumbers.parse(value, "NL")
    except phonenumbers.NumberParseException:
        return None
    # "Possible" (right length for the country), not "valid": the library's number-range
    # data lags behind real allocations, and refusing a customer's real number costs a repair.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def check_field(field: str, raw: str, lang: str) -> tuple[str, str | None]:
    """Clean one personal field; returns (value, error message or None)."""
    messages = MESSAGES[lang]
    value = clean_text(raw, field in MULTILINE)
    if len(value) > FIELD_LIMITS[field]:
        return value, messages["too_long"].format(limit=FIELD_LIMITS[field])
    if not value:
        return value, messages[field] if field in REQUIRED else None
    if field == "email":
        checked = check_email(value)
        return (checked, None) if checked else (value, messages["email_invalid"])
    if field == "phone":
        checked = check_phone(value)
        return (checked, None) if checked else (value, messages["phone_invalid"])
    return value, None


def validate(form: dict[str, str], newsletter_offered: bool) -> tuple[RepairForm | None, dict]:
    """Check a parsed form: (RepairForm, {}) or (None, {field: message in the form's language})."""
    lang = form_lang(form)
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for field in FIELD_LIMITS:
        value, error = check_field(field, form.get(field, ""), lang)
        values[field] = value
        if error:
            errors[field] = error
    if form.get("newsletter", "") not in ("", "yes"):
        raise FormError("newsletter must be 'yes' or absent")
    if errors:
        return None, errors
    newsletter = newsletter_offered and form.get("newsletter") == "yes"
    return RepairForm(lang=lang, newsletter=newsletter, **values), {}
