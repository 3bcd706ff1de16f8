"""Signed links of an event registration: confirm (expires) and cancel (does not).

A token's subject is ``<event id>|<address>``: event ids are slugs (no ``|``), so the first
``|`` splits them even when an address's local part holds one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

from outreach.config import Settings
from outreach.subscriber_mail import web_base
from outreach.tokens import BadToken, make_token, read_token_issued

LinkPurpose = Literal["event-confirm", "event-cancel"]
PATHS: dict[str, str] = {"event-confirm": "events/confirm", "event-cancel": "events/cancel"}


def registration_link(
    settings: Settings,
    secret: bytes,
    purpose: LinkPurpose,
    event_id: str,
    email: str,
    when: datetime,
) -> str:
    """The subscriber app's address for ``purpose`` with a token for this registration."""
    token = quote(make_token(secret, purpose, f"{event_id}|{email}", when))
    return f"{web_base(settings)}{PATHS[purpose]}?token={token}"


def read_registration_token(
    secret: bytes, purpose: LinkPurpose, token: str, now: datetime
) -> tuple[str, str, datetime | None]:
    """(event id, address, issued) of a valid token; BadToken otherwise."""
    subject, issued = read_token_issued(secret, purpose, token, now)
    event_id, bar, email = subject.partition("|")
    if not bar or not event_id or not email:
        raise BadToken("token names no registration")
    return event_id, email, issued
