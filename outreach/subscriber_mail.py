"""The emails that look after a subscription: confirm it, or reach its preferences.

One place builds them, so the web app's sign-up and an import of people without proof of
opt-in send the same confirmation email with the same signed link (double opt-in).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import quote

from jinja2 import Environment

from outreach.config import Settings
from outreach.mail import build_message, mailbox
from outreach.tokens import MAX_AGE, Purpose, make_token
from outreach.topics import TOPICS_BY_SLUG


def web_base(settings: Settings) -> str:
    """Where the subscriber app answers links (``outreach serve``)."""
    return settings.newsletter.web_base_url or settings.site.base_url


def signed_link(
    settings: Settings, secret: bytes, purpose: Purpose, email: str, when: datetime | None
) -> str:
    """The app's address for ``purpose`` with a token for ``email`` issued at ``when``."""
    token = quote(make_token(secret, purpose, email, when))
    return f"{web_base(settings)}newsletter/{purpose}?token={token}"


def subscription_email(
    settings: Settings,
    env: Environment,
    secret: bytes,
    email: str,
    topics: Iterable[str],
    confirmed: bool,
    when: datetime,
) -> tuple[str, EmailMessage]:
    """(kind, message): a link to the preferences for a confirmed address, otherwise a
    confirmation link (valid for ``MAX_AGE['confirm']``)."""
    names = ", ".join(TOPICS_BY_SLUG[t].name for t in topics if t in TOPICS_BY_SLUG)
    if confirmed:
        kind, subject = "preferences", f"Your {settings.site.title} subscription"
        text = env.get_template("newsletter/subscribed.txt.j2").render(
            site_title=settings.site.title,
            preferences_url=signed_link(settings, secret, "preferences", email, when),
            organisation=settings.site.organisation,
            postal_address=settings.newsletter.postal_address,
        )
    else:
        kind, subject = "confirm", f"Please confirm your {settings.site.title} subscription"
        text = env.get_template("newsletter/confirm.txt.j2").render(
            site_title=settings.site.title,
            confirm_url=signed_link(settings, secret, "confirm", email, when),
            valid_days=MAX_AGE["confirm"].days,
            topics=names,
            organisation=settings.site.organisation,
            postal_address=settings.newsletter.postal_address,
        )
    message = build_message(
        mailbox(settings.newsletter.from_name, settings.newsletter.from_email),
        mailbox("", email),
        subject,
        text,
        key=f"{kind}:{email}:{when.isoformat()}",
        when=when,
    )
    return kind, message
