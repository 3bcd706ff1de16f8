"""Reminders 24 hours and 1 hour before an event starts, to everyone holding a seat.

Each reminder is one crash-safe send (``outreach.events.mailing``) under the send id
``event-reminder:<event id>:<label>``: a run retried, or a worker killed midway and run
again, reaches each registrant exactly once. A reminder is due from its time until the event
starts, never before (the scheduled run's clock is its scheduled time: ``flows.common``); when
both are due at once (the 24-hour one was missed), only the 1-hour one is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from outreach.config import Settings
from outreach.events.emails import reminder_email
from outreach.events.mailing import Mailing, deliver_mailing, summary
from outreach.events.registrations import RegistrationStore
from outreach.events.status import is_cancelled
from outreach.mail_transport import RelayHooks
from outreach.secrets_store import link_secret
from outreach.sending import SendLog
from outreach.templating import environment

if TYPE_CHECKING:
    from outreach.events.model import Event


@dataclass(frozen=True)
class Reminder:
    label: str
    before: timedelta
    lead: str
    """How the email says it: 'in 24 hours'."""


REMINDERS = (
    Reminder("24h", timedelta(hours=24), "in 24 hours"),
    Reminder("1h", timedelta(hours=1), "in 1 hour"),
)
BY_LABEL = {r.label: r for r in REMINDERS}


def send_id(event_id: str, reminder: Reminder) -> str:
    return f"event-reminder:{event_id}:{reminder.label}"


def due_at(event: Event, reminder: Reminder) -> datetime:
    return event.starts - reminder.before


def due(event: Event, now: datetime) -> list[Reminder]:
    """The reminders to send now: due, the event not started, and not cancelled; of two due
    at once only the later (nobody gets 'in 24 hours' an hour before the start)."""
    if is_cancelled(event) or now >= event.starts:
        return []
    ready = [r for r in REMINDERS if due_at(event, r) <= now]
    return ready[-1:]


def next_due(event: Event, now: datetime) -> tuple[Reminder, datetime] | None:
    """The next reminder not yet due, and when (None: none left)."""
    if is_cancelled(event):
        return None
    later = [(r, due_at(event, r)) for r in REMINDERS if due_at(event, r) > now]
    return later[0] if later else None


def send_reminder(
    settings: Settings,
    event: Event,
    reminder: Reminder,
    now: datetime,
    relay: RelayHooks | None = None,
) -> str:
    """Send (or resume) one reminder; refused before its time. Returns the summary."""
    if now < due_at(event, reminder):
        return (
            f"The {reminder.label} reminder for '{event.id}' is not due until "
            f"{due_at(event, reminder).isoformat()}: nothing sent."
        )
    env, secret = environment(settings.paths.templates), link_secret(settings)
    mailing = Mailing(
        send_id(event.id, reminder),
        event.id,
        f"Starts {reminder.lead}: {event.title}",
        ("confirmed",),
        lambda r: reminder_email(settings, env, secret, event, r, reminder.lead, now),
    )
    store = RegistrationStore(settings.paths.subscribers)
    report, _ = deliver_mailing(
        settings, mailing, store.confirmed_emails(event.id), now, relay=relay
    )
    return summary(f"Reminder {reminder.label} for '{event.id}'", settings, mailing.send_id, report)


def send_due(settings: Settings, event: Event, now: datetime) -> list[str]:
    """Every reminder due now (at most one), then when the next one is due."""
    notes = [send_reminder(settings, event, r, now) for r in due(event, now)]
    if not notes:
        notes.append(f"No reminder for '{event.id}' is due now.")
    upcoming = next_due(event, now)
    if upcoming is not None:
        reminder, at = upcoming
        notes.append(
            f"Next: the {reminder.label} reminder, due at {at.isoformat()}; run "
            f"'outreach events remind {event.id}' then (a server's scheduled run does it)."
        )
    return notes


def sent_counts(settings: Settings, event: Event) -> dict[str, int]:
    """Reminders sent so far, per label (for ``outreach events list``)."""
    log = SendLog(settings.paths.ledger)
    return {r.label: log.counts(send_id(event.id, r)).sent for r in REMINDERS}
