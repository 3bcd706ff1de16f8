"""The announcement of an event to newsletter subscribers whose topics match it, and to past
registrants who agreed to hear of future events on those topics (one email per address).

One email each (a register button, the unsubscribe headers of the newsletter), sent through
the newsletter's crash-safe send under ``event-announcement:<event id>``: approved once, it
reaches each subscriber once, and a killed run resumes. Subscribers who left or were
suppressed since the send froze are skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from outreach.audit import AuditRow, recipient_id, without_addresses
from outreach.config import Settings
from outreach.events.emails import when_local, when_utc
from outreach.events.registrations import RegistrationStore
from outreach.locks import hold
from outreach.mail import build_message, envelope_address, list_headers, mailbox
from outreach.mail_transport import mail_transport, wire_bytes
from outreach.secrets_store import link_secret, recipient_key
from outreach.sending import SendLog, send_pending
from outreach.subscriber_mail import signed_link, web_base
from outreach.subscribers import SubscriberStore
from outreach.suppression import suppressions_for
from outreach.templating import environment
from outreach.topics import TOPICS_BY_SLUG
from outreach.urls import event_register_url

if TYPE_CHECKING:
    from outreach.events.model import Event


def send_id_of(event: Event) -> str:
    """The announcement's send in the send log: one per event, so it goes out once."""
    return f"event-announcement:{event.id}"


REFUSED = ("unsubscribed", "bounced", "complained")
"""Subscriber states that say "no more email": a registrant's earlier consent does not
outweigh them."""


def audience(settings: Settings, event: Event) -> dict[str, tuple[str, ...]]:
    """Who the announcement of ``event`` reaches, once each: confirmed subscribers of its
    topics, and people who confirmed a registration for another event and agreed to hear of
    future events on one of its topics (unless they unsubscribed, bounced or complained, or
    already registered for this one). Address -> the topics they chose. Suppressed and
    erased addresses are left out when the send goes (``announce``)."""
    subscribers = SubscriberStore(settings.paths.subscribers)
    registrations = RegistrationStore(settings.paths.subscribers)
    chosen: dict[str, set[str]] = {
        person.email: set(person.topics) for person in subscribers.recipients(event.topics)
    }
    consenting = registrations.consenting(event.topics, but_event=event.id)
    if consenting:
        known = subscribers.get_many(list(consenting))
        registered = registrations.registered_for(event.id)
        for email, topics in consenting.items():
            person = known.get(email)
            if (person is not None and person.status in REFUSED) or email in registered:
                continue
            chosen.setdefault(email, set()).update(topics)
    return {email: tuple(sorted(chosen[email])) for email in sorted(chosen)}


def announce(settings: Settings, event: Event, now: datetime, actor: str = "release") -> str:
    send_id = send_id_of(event)
    log = SendLog(settings.paths.ledger)
    if not log.is_frozen(send_id):
        log.freeze(send_id, event.title, audience(settings, event), now)
    env, secret = environment(settings.paths.templates), link_secret(settings)
    config = settings.newsletter
    with hold(settings.paths.state, f"sending {send_id}"):
        pending = [e for batch in log.pending_batches(send_id, 500) for e in batch]
        # Asked again when each goes: someone who left, withdrew consent or was suppressed
        # (or erased) since the send froze is skipped.
        still = audience(settings, event) if pending else {}
        blocked = suppressions_for(settings).suppressed(pending)
        ready = []
        for email in pending:
            if email not in still or email in blocked:
                log.mark(send_id, email, "skipped", "suppressed" if email in blocked else "left")
                continue
            ready.append(email)

        def build(email: str) -> bytes:
            topics = ", ".join(TOPICS_BY_SLUG[t].name for t in still[email] if t in TOPICS_BY_SLUG)
            unsubscribe = signed_link(settings, secret, "unsubscribe", email, None)
            values = {
                "title": event.title,
                "summary": event.summary,
                "when": when_local(event),
                "when_utc": when_utc(event),
                "register_url": event_register_url(web_base(settings), event.id),
                "unsubscribe_url": unsubscribe,
                "site_title": settings.site.title,
                "topics": topics,
                "organisation": settings.site.organisation,
                "postal_address": config.postal_address,
            }
            message = build_message(
                mailbox(config.from_name, config.from_email),
                mailbox("", email),
                event.title,
                env.get_template("events/mail/announcement.txt.j2").render(**values),
                key=f"{send_id}:{email}",
                when=now,
                html=env.get_template("events/mail/announcement.html.j2").render(**values),
                headers=list_headers(config.list_id, unsubscribe, config.unsubscribe_mailto),
            )
            return wire_bytes(message, envelope_address(email)[1])

        people = recipient_key(settings)

        def trail(email: str, outcome: str, reply: str) -> AuditRow:
            detail = {"send_id": send_id}
            if outcome != "sent":
                detail["reply"] = without_addresses(reply)
            fields = {
                "publication": f"event:{event.id}",
                "actor": actor,
                "subject": recipient_id(email, people),
                "outcome": outcome,
                "detail": detail,
            }
            return "send", now, fields

        with mail_transport(
            settings, connections=config.connections, rate=config.rate_per_second
        ) as transport:
            report = send_pending(
                log, send_id, ready, build, config.from_email, transport, trail=trail
            )
    counts = log.counts(send_id)
    return (
        f"Announcement of '{event.id}': {report.sent} sent now, {counts.sent} of "
        f"{counts.total} subscribers in all."
    )
