"""The mails: owner notice, customer confirmation, status update; composed from a stored request.

Header values only ever come from cleaned one-line fields and go through `email.headerregistry`,
which encodes them, so no CR/LF from the form can start a header of its own. The customer's mails
carry no free text from the form: a stranger's address plus a spam text must not make us a relay.
"""

from __future__ import annotations

import contextlib
import smtplib
import sqlite3
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from repairs.settings import Settings
from repairs.validation import FIELD_LIMITS, ascii_address, clean_text
from shop.files import write_whole
from shop.site import page_path

FIELD_LABELS = {
    "name": "Naam",
    "company": "Bedrijf",
    "address": "Adres",
    "email": "E-mail",
    "phone": "Telefoon",
    "device": "Apparaat",
    "description": "Omschrijving",
}

STATUS_TEXT = {
    "nl": {
        "new": "ontvangen, nog niet in behandeling",
        "received": "uw apparaat is binnen",
        "diagnosing": "we zoeken uit wat er mis is",
        "waiting_for_parts": "we wachten op onderdelen",
        "repairing": "we repareren uw apparaat",
        "ready": "klaar: u kunt uw apparaat ophalen",
        "closed": "afgerond",
    },
    "en": {
        "new": "received, not yet in progress",
        "received": "your device has arrived",
        "diagnosing": "we are finding out what is wrong",
        "waiting_for_parts": "we are waiting for parts",
        "repairing": "we are repairing your device",
        "ready": "ready: you can collect your device",
        "closed": "completed",
    },
}

CONFIRMATION = {
    "nl": (
        "Reparatieaanvraag {ref} ontvangen",
        "Beste klant,\n\n"
        "Wij hebben uw reparatieaanvraag ontvangen. Uw referentienummer is {ref}.\n"
        "We nemen zo snel mogelijk contact met u op. Noem het referentienummer als u ons belt of mailt.\n\n"
        "Heeft u deze aanvraag niet gedaan? Dan kunt u deze mail negeren, of ons laten weten\n"
        "dat uw adres ten onrechte is gebruikt; we wissen de aanvraag dan.\n",
    ),
    "en": (
        "Repair request {ref} received",
        "Dear customer,\n\n"
        "We have received your repair request. Your reference number is {ref}.\n"
        "We will contact you as soon as possible. Please quote the reference when you call or write.\n\n"
        "Did you not make this request? Then ignore this mail, or tell us that your address\n"
        "was used without your consent and we will erase the request.\n",
    ),
}

STATUS_MAIL = {
    "nl": (
        "Reparatie {ref}: {status}",
        "Beste klant,\n\nDe status van uw reparatie {ref} is nu: {status}.\n",
    ),
    "en": (
        "Repair {ref}: {status}",
        "Dear customer,\n\nThe status of your repair {ref} is now: {status}.\n",
    ),
}

SIGNATURE = {
    "nl": "\nMet vriendelijke groet,\n{trade_name}\n{contact}\nPrivacyverklaring: {privacy}\n",
    "en": "\nKind regards,\n{trade_name}\n{contact}\nPrivacy statement: {privacy}\n",
}


def compose(row: sqlite3.Row, settings: Settings) -> EmailMessage:
    """The message for one outbox row (joined with its request, see store.due_mail)."""
    kind = row["kind"]
    if kind == "owner_notice":
        return owner_notice(row, settings)
    if kind == "confirmation":
        return customer_mail(row, settings, *CONFIRMATION[_lang(row)], status="")
    if kind == "status":
        status = STATUS_TEXT[_lang(row)].get(row["detail"], row["detail"])
        return customer_mail(row, settings, *STATUS_MAIL[_lang(row)], status=status)
    if kind == "failure_notice":
        return failure_notice(row, settings)
    raise ValueError(f"unknown mail kind {kind!r}")


def owner_notice(row: sqlite3.Row, settings: Settings) -> EmailMessage:
    msg = _message(row, settings, to=settings.owner_email)
    name = clean_text(row["name"] or "", multiline=False)
    # An address no server takes gets no Reply-To: the owner still hears of the request.
    with contextlib.suppress(ValueError):
        msg["Reply-To"] = Address(display_name=name, addr_spec=ascii_address(row["email"]))
    msg["Subject"] = f"Reparatieaanvraag {row['ref']}: {name}"
    lines = [f"Nieuwe reparatieaanvraag {row['ref']} ({row['created_at']}, taal {row['lang']})", ""]
    for field in FIELD_LIMITS:
        value = row[field] or "-"
        if "\n" in value:
            value = "\n    " + value.replace("\n", "\n    ")
        lines.append(f"{FIELD_LABELS[field]}: {value}")
    lines.append(f"Nieuwsbrief: {'ja' if row['newsletter'] else 'nee'}")
    lines += ["", f"Status wijzigen: repairs status {row['ref']} received --notify"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def failure_notice(row: sqlite3.Row, settings: Settings) -> EmailMessage:
    """Tells the owner that a mail to the customer could not be sent (detail: kind: reason)."""
    msg = _message(row, settings, to=settings.owner_email)
    msg["Subject"] = f"Mail over {row['ref']} niet verstuurd"
    failed_kind, _, reason = row["detail"].partition(": ")
    msg.set_content(
        f"De mail '{failed_kind}' over reparatieaanvraag {row['ref']} kon niet worden "
        f"verstuurd:\n    {reason}\n\n"
        f"Neem zelf contact op met de klant: {row['email'] or '-'}, {row['phone'] or '-'}.\n"
        f"Details: repairs show {row['ref']}\n"
    )
    return msg


def customer_mail(
    row: sqlite3.Row, settings: Settings, subject: str, body: str, status: str
) -> EmailMessage:
    lang = _lang(row)
    business = settings.shop.business
    # The ASCII (IDNA) form of the domain: a server without SMTPUTF8 refuses the Unicode one.
    msg = _message(row, settings, to=ascii_address(row["email"]))
    msg["Subject"] = subject.format(ref=row["ref"], status=status)
    contact = f"{business.phone} · {business.email}"
    site = (settings.site_url or settings.shop.site.url).rstrip("/")
    signature = SIGNATURE[lang].format(
        trade_name=business.trade_name, contact=contact, privacy=site + page_path("privacy", lang)
    )
    msg.set_content(body.format(ref=row["ref"], status=status) + signature)
    return msg


def _message(row: sqlite3.Row, settings: Settings, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender(settings)
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(UTC))
    # One fixed Message-ID per outbox row: should a crash make us send it twice, mail clients
    # recognise the copy.
    domain = _owner(settings).rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<repairs.{row['outbox_id']}.{row['ref']}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def sender(settings: Settings) -> Address:
    """From: the shop's name and the owner's address, on every mail the shop's software sends."""
    return Address(display_name=settings.shop.business.trade_name, addr_spec=_owner(settings))


def open_smtp(settings: Settings, timeout: float | None = None) -> smtplib.SMTP:
    """A logged-in SMTP session with REPAIRS_SMTP_* (TLS as REPAIRS_SMTP_TLS says); the
    timeout is REPAIRS_SMTP_TIMEOUT unless given."""
    s = settings
    timeout = s.smtp_timeout if timeout is None else timeout
    if s.smtp_tls == "tls":
        context = ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
    try:
        if s.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def write_eml(target: Path, msg: EmailMessage) -> None:
    """The mail as an .eml file, whole or not at all (mail folder instead of SMTP)."""
    write_whole(target, msg.as_bytes(), durable=True)


def _owner(settings: Settings) -> str:
    return parseaddr(settings.owner_email)[1] or settings.owner_email


def _lang(row: sqlite3.Row) -> str:
    return row["lang"] if row["lang"] in CONFIRMATION else "nl"
