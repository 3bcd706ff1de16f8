"""Mail to an event's registrants through the newsletter's crash-safe send.

Reminders, update invites and cancellations reach many people at once, so they reuse the
send log (``outreach.sending``): the recipients are frozen into the ledger file under a send
id that names the event and what is sent (``event-reminder:<id>:24h``,
``event-update:<id>:<sequence>``), each recipient's row turns ``sent`` the moment the server
accepts the message, and a run killed midway and run again sends only to those not reached.
Every outcome is a "send" event in the audit log by recipient id. Addresses suppressed (or no
longer holding a seat) since the send froze are skipped, never mailed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from outreach.audit import AuditRow, message_ref, recipient_id, without_addresses
from outreach.config import Settings
from outreach.events.registrations import Registration, RegistrationStore, State
from outreach.locks import hold
from outreach.mail import envelope_address
from outreach.mail_transport import RelayHooks, mail_transport, wire_bytes
from outreach.secrets_store import recipient_key
from outreach.sending import SendLog, SendReport, send_pending
from outreach.suppression import suppressions_for


@dataclass(frozen=True)
class Mailing:
    """One send to an event's registrants."""

    send_id: str
    event_id: str
    subject: str
    states: tuple[State, ...]
    """Who may still get it when their turn comes (a reminder: only seated people)."""
    build: Callable[[Registration], EmailMessage]


def deliver_mailing(
    settings: Settings,
    mailing: Mailing,
    recipients: Iterable[str],
    now: datetime,
    actor: str = "release",
    relay: RelayHooks | None = None,
) -> tuple[SendReport, bool]:
    """Freeze ``recipients`` the first time, then send to everyone still pending; returns the
    report and whether this run froze the send (False: it resumed one)."""
    log = SendLog(settings.paths.ledger)
    newly = log.freeze(mailing.send_id, mailing.subject, recipients, now)
    with hold(settings.paths.state, f"sending {mailing.send_id}"):
        pending = [e for batch in log.pending_batches(mailing.send_id, 500) for e in batch]
        store = RegistrationStore(settings.paths.subscribers)
        blocked = suppressions_for(settings).suppressed(pending)
        people: dict[str, Registration] = {}
        ready: list[str] = []
        for email in pending:
            registration = store.get(mailing.event_id, email)
            if email in blocked or registration is None or registration.state not in mailing.states:
                why = "suppressed" if email in blocked else "no longer registered"
                log.mark(mailing.send_id, email, "skipped", why)
                continue
            people[email] = registration
            ready.append(email)
        messages: dict[str, EmailMessage] = {}

        def build(email: str) -> bytes:
            messages[email] = mailing.build(people[email])
            return wire_bytes(messages[email], envelope_address(email)[1])

        key = recipient_key(settings)

        def trail(email: str, outcome: str, reply: str) -> AuditRow:
            detail = {"send_id": mailing.send_id}
            if email in messages:
                detail["message_id"] = message_ref(messages[email]["Message-ID"])
            if outcome != "sent":
                detail["reply"] = without_addresses(reply)
            return (
                "send",
                now,
                {
                    "publication": f"event:{mailing.event_id}",
                    "actor": actor,
                    "subject": recipient_id(email, key),
                    "outcome": outcome,
                    "detail": detail,
                },
            )

        with mail_transport(settings, relay=relay) as transport:
            report = send_pending(
                log,
                mailing.send_id,
                ready,
                build,
                settings.newsletter.from_email,
                transport,
                trail=trail,
            )
    return report, newly


def summary(label: str, settings: Settings, send_id: str, report: SendReport) -> str:
    counts = SendLog(settings.paths.ledger).counts(send_id)
    return (
        f"{label}: {report.sent} sent now, {counts.sent} of {counts.total} in all"
        + (f", {counts.pending} pending for a later run" if counts.pending else "")
        + "."
    )
