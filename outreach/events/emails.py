"""The emails a registrant gets: confirm the registration, the invite (and its updates), the
waiting list, a cancellation, reminders; and the announcement a subscriber gets.

Each is one message for one person, built here and sent by the caller through the one mail
transport. Invites carry the calendar as a ``text/calendar`` attachment whose ``method``
parameter matches the calendar's METHOD (REQUEST, or CANCEL), with the registrant as the
ATTENDEE, so mail programs offer "add to calendar" and later replace or remove the entry by
its UID and SEQUENCE. The join link is only ever in mail to a confirmed registrant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, vCalAddress
from jinja2 import Environment

from outreach.config import Settings
from outreach.events.links import registration_link
from outreach.mail import build_message, mailbox
from outreach.tokens import MAX_AGE

if TYPE_CHECKING:
    from outreach.events.model import Event
    from outreach.events.registrations import Registration

Method = Literal["REQUEST", "CANCEL"]


def when_local(event: Event) -> str:
    """'Tuesday 3 March 2026, 14:00–15:30 (Europe/London)', in the event's own zone."""
    zone = ZoneInfo(event.timezone)
    start, end = event.starts.astimezone(zone), event.ends.astimezone(zone)
    return f"{start:%A} {start.day} {start:%B %Y, %H:%M}–{end:%H:%M} ({event.timezone})"


def when_utc(event: Event) -> str:
    start, end = event.starts.astimezone(UTC), event.ends.astimezone(UTC)
    return f"{start.day} {start:%B %Y, %H:%M}–{end:%H:%M} UTC"


def invite_calendar(
    event: Event, settings: Settings, method: Method, sequence: int, attendee: Registration
) -> bytes:
    """The event's calendar (``outreach.events.ics``) for one registrant: the join link in a
    REQUEST (they hold a seat), the registrant as ATTENDEE and the team as ORGANIZER."""
    from outreach.events.ics import event_calendar

    raw = event_calendar(
        event,
        settings,
        method,
        sequence,
        with_join_url=method == "REQUEST",
        attendee=attendee.email,
    )
    calendar = Calendar.from_ical(raw)
    for component in calendar.walk("VEVENT"):
        if "ORGANIZER" not in component:
            organiser = vCalAddress(f"mailto:{settings.newsletter.from_email}")
            organiser.params["CN"] = settings.newsletter.from_name
            component.add("ORGANIZER", organiser)
    return calendar.to_ical()


def _common(settings: Settings, event: Event, registration: Registration) -> dict[str, object]:
    return {
        "name": registration.name,
        "title": event.title,
        "when": when_local(event),
        "when_utc": when_utc(event),
        "organisation": settings.site.organisation,
        "postal_address": settings.newsletter.postal_address,
    }


def _message(
    settings: Settings, to: str, subject: str, text: str, key: str, when: datetime
) -> EmailMessage:
    return build_message(
        mailbox(settings.newsletter.from_name, settings.newsletter.from_email),
        mailbox("", to),
        subject,
        text,
        key=key,
        when=when,
    )


def confirm_email(
    settings: Settings,
    env: Environment,
    secret: bytes,
    event: Event,
    registration: Registration,
    when: datetime,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """The double opt-in link; nothing else (no join link before confirmation). The link is
    signed at ``sent_at`` (default ``when``, the time the email was owed): one sent late, after
    a crash, still has its whole validity ahead of it."""
    text = env.get_template("events/mail/confirm.txt.j2").render(
        **_common(settings, event, registration),
        confirm_url=registration_link(
            settings, secret, "event-confirm", event.id, registration.email, sent_at or when
        ),
        valid_days=MAX_AGE["event-confirm"].days,
    )
    return _message(
        settings,
        registration.email,
        f"Please confirm your place: {event.title}",
        text,
        f"event-confirm:{event.id}:{registration.email}:{when.isoformat()}",
        when,
    )


def invite_email(
    settings: Settings,
    env: Environment,
    secret: bytes,
    event: Event,
    registration: Registration,
    sequence: int,
    when: datetime,
    *,
    update: bool = False,
    promoted: bool = False,
) -> EmailMessage:
    """The invite (METHOD:REQUEST) with the join link and a cancel link."""
    text = env.get_template("events/mail/invite.txt.j2").render(
        **_common(settings, event, registration),
        join_url=event.join_url,
        cancel_url=registration_link(
            settings, secret, "event-cancel", event.id, registration.email, when
        ),
        update=update,
        promoted=promoted,
    )
    subject = f"{'Updated: ' if update else ''}{event.title}"
    message = _message(
        settings,
        registration.email,
        subject,
        text,
        f"event-invite:{event.id}:{sequence}:{registration.email}",
        when,
    )
    _attach(message, invite_calendar(event, settings, "REQUEST", sequence, registration), "REQUEST")
    return message


def waiting_email(
    settings: Settings,
    env: Environment,
    secret: bytes,
    event: Event,
    registration: Registration,
    when: datetime,
) -> EmailMessage:
    text = env.get_template("events/mail/waiting.txt.j2").render(
        **_common(settings, event, registration),
        cancel_url=registration_link(
            settings, secret, "event-cancel", event.id, registration.email, when
        ),
    )
    return _message(
        settings,
        registration.email,
        f"You are on the waiting list: {event.title}",
        text,
        f"event-waiting:{event.id}:{registration.email}",
        when,
    )


def cancel_email(
    settings: Settings,
    env: Environment,
    event: Event,
    registration: Registration,
    sequence: int,
    when: datetime,
    *,
    event_cancelled: bool,
) -> EmailMessage:
    """METHOD:CANCEL: the event was cancelled, or the registrant cancelled their place."""
    text = env.get_template("events/mail/cancelled.txt.j2").render(
        **_common(settings, event, registration), event_cancelled=event_cancelled
    )
    subject = f"{'Cancelled' if event_cancelled else 'Your place is cancelled'}: {event.title}"
    message = _message(
        settings,
        registration.email,
        subject,
        text,
        f"event-cancel:{event.id}:{sequence}:{registration.email}",
        when,
    )
    _attach(message, invite_calendar(event, settings, "CANCEL", sequence, registration), "CANCEL")
    return message


def reminder_email(
    settings: Settings,
    env: Environment,
    secret: bytes,
    event: Event,
    registration: Registration,
    lead: str,
    when: datetime,
) -> EmailMessage:
    """A reminder with the join link; ``lead``: 'in 24 hours', 'in 1 hour'."""
    text = env.get_template("events/mail/reminder.txt.j2").render(
        **_common(settings, event, registration),
        lead=lead,
        join_url=event.join_url,
        cancel_url=registration_link(
            settings, secret, "event-cancel", event.id, registration.email, when
        ),
    )
    return _message(
        settings,
        registration.email,
        f"Starts {lead}: {event.title}",
        text,
        f"event-reminder:{event.id}:{lead}:{registration.email}",
        when,
    )


def _attach(message: EmailMessage, calendar: bytes, method: Method) -> None:
    message.add_attachment(
        calendar,
        maintype="text",
        subtype="calendar",
        filename="invite.ics",
        params={"method": method, "charset": "utf-8"},
    )
