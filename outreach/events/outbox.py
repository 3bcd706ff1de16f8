"""Send the emails registrants are owed (``event_mail`` rows) through the crash-safe send.

A registration change (confirmed, put on the waiting list, cancelled, promoted to a seat)
records the email it owes in the same transaction as the change. This module sends each
owed email as its own send in the send log (``outreach.events.mailing``): the recipient is
frozen under the row's id, marked sent the moment the server accepts the message, and the row
is settled once nothing is pending. So a web app killed between the change and the email, or
midway through it, sends it when it starts again (or at the next release of the event), and
a retry never mails anyone twice. Each email is rebuilt from the event file at send time, so
an invite sent late carries the event's current time, join link and SEQUENCE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from outreach.config import Settings
from outreach.events.emails import cancel_email, confirm_email, invite_email, waiting_email
from outreach.events.mailing import Mailing, deliver_mailing
from outreach.events.registrations import OwedMail, Registration, RegistrationStore, State
from outreach.events.sequence import SequenceLedger
from outreach.events.status import is_cancelled
from outreach.secrets_store import link_secret
from outreach.sending import SendLog
from outreach.templating import environment

if TYPE_CHECKING:
    from outreach.events.model import Event

STATES: dict[str, tuple[State, ...]] = {
    "confirm": ("pending",),
    "invite": ("confirmed",),
    "promoted": ("confirmed",),
    "waiting": ("waiting",),
    "cancel": ("cancelled",),
}
"""Who may still get each kind when its turn comes: a confirmation link to someone who has
confirmed meanwhile, or an invite to someone who cancelled meanwhile, is skipped."""


def _builder(
    settings: Settings, event: Event, owed: OwedMail, now: datetime
) -> tuple[str, Callable[[Registration], EmailMessage]]:
    """The subject and the message builder of one owed email (dated when it was owed; a
    confirmation link signed ``now``, when it is sent)."""
    env, secret = environment(settings.paths.templates), link_secret(settings)
    sequence = SequenceLedger(settings.paths.ledger).current(event.id)
    when = datetime.fromisoformat(owed.made_at)
    if owed.kind == "confirm":
        return "confirm", lambda r: confirm_email(
            settings, env, secret, event, r, when, sent_at=max(when, now)
        )
    if owed.kind in ("invite", "promoted"):
        promoted = owed.kind == "promoted"
        return "invite", lambda r: invite_email(
            settings, env, secret, event, r, sequence, when, promoted=promoted
        )
    if owed.kind == "waiting":
        return "waiting", lambda r: waiting_email(settings, env, secret, event, r, when)
    return "cancel", lambda r: cancel_email(
        settings, env, event, r, sequence, when, event_cancelled=False
    )


def outdated(event: Event, kind: str, now: datetime) -> bool:
    """Whether an owed email no longer means anything: a confirmation link, a seat or a
    waiting-list note for an event that is cancelled or over (a late invite after the
    CANCEL would put a called-off event back in the person's calendar). A cancellation
    always goes."""
    return kind != "cancel" and (is_cancelled(event) or now >= event.ends)


def send_owed(
    settings: Settings,
    events: dict[str, Event],
    event_id: str | None = None,
    actor: str = "registrant",
    now: datetime | None = None,
) -> list[str]:
    """Send every email owed (of ``event_id``, or of every event); returns a note per email
    sent now. An email ``outdated`` at ``now`` (default: the clock) is settled unsent.
    Transient failures leave the email owed for the next call; a SenderFailure (login,
    connection) is raised with the email still owed."""
    store, log = RegistrationStore(settings.paths.subscribers), SendLog(settings.paths.ledger)
    moment = now or datetime.now(UTC)
    notes: list[str] = []
    for owed in store.owed(event_id):
        event = events.get(owed.event_id)
        if event is None or outdated(event, owed.kind, moment):
            store.settle_mail(owed.mail_id)  # nothing (left) to say: the file is gone, or
            continue  # the event is called off or over
        label, build = _builder(settings, event, owed, moment)
        mailing = Mailing(
            owed.mail_id, event.id, f"{label}: {event.title}", STATES[owed.kind], build
        )
        report, _ = deliver_mailing(
            settings, mailing, [owed.email], datetime.fromisoformat(owed.made_at), actor
        )
        if report.sent:
            notes.append(f"Sent the {owed.kind} email of '{event.id}'.")
        if not log.counts(owed.mail_id).pending:
            store.settle_mail(owed.mail_id)
    return notes
