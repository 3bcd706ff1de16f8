"""Email messages: addresses and headers made safe, deterministic Message-IDs.

Every header value is collapsed to one line before it reaches the message, so a name or a
title can never smuggle in another header (header injection).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime


def one_line(value: str) -> str:
    """Collapse every run of whitespace, line breaks included, into one space."""
    return " ".join(value.split())


def envelope_address(email: str) -> tuple[str, bool]:
    """The form of ``email`` to send to, and whether that needs the server's SMTPUTF8.

    An internationalised domain has an ASCII form (punycode) every server takes; only a
    non-ASCII local part needs SMTPUTF8 (RFC 6531) and UTF-8 headers (RFC 6532)."""
    if email.isascii():
        return email, False
    from email_validator import EmailNotValidError, validate_email

    try:
        ascii_form = validate_email(email, check_deliverability=False).ascii_email
    except EmailNotValidError:
        ascii_form = None
    return (ascii_form, False) if ascii_form else (email, True)


def mailbox(name: str, email: str) -> Address:
    """A header address; an internationalised domain as punycode (see envelope_address)."""
    local, _, domain = envelope_address(email)[0].rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


def message_id(key: str, domain: str) -> str:
    """Stable per message key: a resend after a crash carries the same id (deduplicable)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(
    sender: Address,
    recipient: Address,
    subject: str,
    text: str,
    key: str,
    when: datetime,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(when)
    message["Message-ID"] = message_id(key, sender.domain)
    for name, value in (headers or {}).items():
        message[name] = one_line(value)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def list_headers(list_id: str, one_click_url: str, mailto: str) -> dict[str, str]:
    """RFC 2919 List-Id and RFC 8058 one-click unsubscribe (https and mailto)."""
    return {
        "List-Id": f"<{list_id}>",
        "List-Unsubscribe": f"<{one_click_url}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


DKIM_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip
"""Signed headers: both unsubscribe headers included, as RFC 8058 requires (dkimpy's default
list leaves List-Unsubscribe-Post out)."""


def dkim_sign(message: bytes, domain: str, selector: str, private_key: bytes) -> bytes:
    import dkim

    signature = dkim.sign(
        message, selector.encode(), domain.encode(), private_key, include_headers=list(DKIM_HEADERS)
    )
    return signature + message
