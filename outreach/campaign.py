"""One newsletter send, start to finish: recipients, messages, transport, bookkeeping.

Used by the ``send-newsletter`` flow (in batches) and by the CLI. Re-running the same issue
resumes it: recipients frozen at the first run, only those still pending are sent. A
catch-up (``new_subscribers``) first adds the matching subscribers who joined since to the
frozen send, then sends like a resume. Every recipient's outcome is a "send" event in the
audit log, by recipient id, written with the send log's row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from outreach.audit import AuditRow, message_ref, recipient_id, without_addresses
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.finding import Finding
from outreach.locks import Notice, hold_recipients
from outreach.mail_errors import SenderFailure
from outreach.mail_transport import MailTransport, RelayHooks, mail_transport
from outreach.newsletter import (
    Issue,
    MessageFactory,
    RenderedIssue,
    digest_issue,
    finding_issue,
    render_issue,
    unsubscribe_warning,
)
from outreach.secrets_store import dkim_key, recipient_key, stable_secret
from outreach.send_pace import newsletter_pace, with_pace
from outreach.sending import Progress, SendLog, SendReport, send_pending
from outreach.subscribers import SubscriberStore
from outreach.suppression import Suppressions, suppressions_for


def link_secret(settings: Settings) -> bytes:
    return stable_secret(settings.paths.state, "link-secret", "OUTREACH_LINK_SECRET")


def send_id_for(issue: Issue) -> str:
    return f"newsletter:{issue.key}"


def publication_of(issue: Issue) -> str:
    """The audit log's publication of an issue's sends: the finding's id (its ledger key),
    or for a digest its send id (a digest is no single publication)."""
    return issue.findings[0].id if issue.key == issue.findings[0].id else send_id_for(issue)


class NotSentYet(OutreachError):
    """A catch-up of an issue that never went out: there is no send to complete."""

    before_any_change = True


@dataclass(frozen=True)
class PreparedSend:
    send_id: str
    rendered: RenderedIssue
    pending_count: int
    newly_frozen: bool
    warning: str | None = None
    """Said on every send: unsubscribe links without https (only the outbox allows them)."""
    added: int = 0
    """Subscribers a catch-up added to the frozen send (joined after it went out)."""
    actor: str = "release"
    """Who sends, for the audit log: "release" for automatic steps, else the person."""

    def batches(self, settings: Settings) -> Iterator[list[str]]:
        """Pending recipients in batches of ``newsletter.batch_size``, read as needed."""
        log = SendLog(settings.paths.ledger)
        return log.pending_batches(self.send_id, settings.newsletter.batch_size)


def issue_to_send(findings: Sequence[Finding], digest_title: str | None, now: datetime) -> Issue:
    """The issue ``outreach newsletter send`` and the send-newsletter flow send: one finding,
    or several as a digest titled ``digest_title``; refused while any is not public yet."""
    from outreach.release_steps import ReleaseError

    held = [f.id for f in findings if not f.is_public(now)]
    if held:
        raise ReleaseError(f"not public yet, so not sent: {', '.join(held)}")
    if digest_title:
        return digest_issue(findings, digest_title)
    if len(findings) == 1:
        return finding_issue(findings[0])
    raise ReleaseError("several findings need a digest_title: they go out as one digest")


def prepare_send(
    issue: Issue,
    settings: Settings,
    now: datetime,
    *,
    new_subscribers: bool = False,
    actor: str = "release",
) -> PreparedSend:
    """Render the issue and freeze its recipients (only the first time: later runs resume).

    ``new_subscribers``: a catch-up of an issue that went out before; the matching confirmed
    subscribers not yet in its send are added (raises NotSentYet if it never went out).
    Over SMTP, unsubscribe links without https are refused before anyone is frozen."""
    warning = unsubscribe_warning(settings)
    if warning and settings.mail.platform == "smtp":
        raise SenderFailure(f"Newsletter '{issue.key}' not sent: {warning}.")
    rendered = render_issue(issue, settings)
    store = SubscriberStore(settings.paths.subscribers)
    log = SendLog(settings.paths.ledger)
    send_id = send_id_for(issue)
    added = 0
    if new_subscribers:
        if not log.is_frozen(send_id):
            raise NotSentYet(not_sent_yet(issue))
        newly = False
        added = log.add(send_id, store.recipient_emails(issue.topics), now)
    else:
        newly = log.freeze(send_id, issue.subject, store.recipient_emails(issue.topics), now)
    pending = log.counts(send_id).pending
    return PreparedSend(send_id, rendered, pending, newly, warning, added, actor)


def not_sent_yet(issue: Issue) -> str:
    return (
        f"Newsletter '{issue.key}' was not sent yet, so it has no new subscribers to catch up: "
        "run the command without --new-subscribers to send it."
    )


def send_all(prepared: PreparedSend, settings: Settings, now: datetime) -> SendReport:
    """Every pending recipient, batch after batch (the flow runs the batches as tasks)."""
    total = SendReport()
    with SendLog(settings.paths.ledger).kept_open(), newsletter_transport(settings) as transport:
        send = batch_sender(settings, now, transport)
        for batch in prepared.batches(settings):
            report = send(prepared, batch)
            total.sent += report.sent
            total.bounced += report.bounced
            total.deferred += report.deferred
            total.held.update(report.held)
            if report.deferred:
                break  # the server is refusing for now: leave the rest for the next run
    return total


BatchSender = Callable[[PreparedSend, list[str]], SendReport]
"""Sends one batch of recipients: ``send_batch`` here, a retried task in the flow."""


def deliver(
    prepared: PreparedSend,
    settings: Settings,
    send: BatchSender,
    progress: Callable[[float], None] | None = None,
    catch_up: bool = False,
) -> str:
    """Send every pending recipient batch after batch with ``send`` and say what happened, in
    the one summary every caller prints (the CLI on embedded defaults, the flow on a server).

    A failure of the sending side stops the send with how far it got: a re-run resumes."""
    log = SendLog(settings.paths.ledger)
    total = log.counts(prepared.send_id).total
    sent = bounced = deferred = 0
    held: dict[str, str] = {}
    key = prepared.rendered.issue.key
    try:
        with log.kept_open():
            for batch in prepared.batches(settings):
                report = send(prepared, batch)
                sent, bounced = sent + report.sent, bounced + len(report.bounced)
                deferred += len(report.deferred)
                held.update(report.held)
                if progress is not None:
                    counts = log.counts(prepared.send_id)
                    progress((counts.total - counts.pending) / max(total, 1))
                if report.deferred:
                    break  # the server is refusing for now: the next run resumes
    except SenderFailure as exc:
        counts = log.counts(prepared.send_id)
        raise type(exc)(  # the same kind: a transient failure stays retryable
            f"Newsletter '{key}' stopped: {exc}. {counts.sent} of {counts.total} sent so "
            f"far; {counts.pending} still pending and none of them marked bounced: a re-run "
            "after the fix resumes the send."
        ) from exc
    if progress is not None:
        progress(1.0)
    resumed = "" if prepared.newly_frozen else " (resumed)"
    if catch_up:
        joined = f"{prepared.added} new subscriber{'s' if prepared.added != 1 else ''}"
        resumed = f" (catch-up: {joined} added)"
    summary = (
        f"Newsletter '{key}'{resumed}: {sent} sent, {bounced} bounced, {deferred} deferred "
        f"to a later run, of {total} recipients."
    )
    if held:
        summary += f" {len(held)} held for a later run: {'; '.join(sorted(set(held.values())))}."
    if prepared.warning:
        summary += f" Warning: {prepared.warning}."
    return summary


@contextmanager
def newsletter_transport(
    settings: Settings, relay: RelayHooks | None = None
) -> Iterator[MailTransport]:
    """The transport a newsletter sends through (``newsletter.connections`` and its pace;
    with the state in PostgreSQL, the pace is shared by every worker: ``send_pace``).
    A caller sending many batches in one process opens it once and passes it to each
    ``send_batch``: the connections then carry the whole send, not one batch each."""
    config = settings.newsletter
    with (
        newsletter_pace(settings) as pace,
        mail_transport(
            settings,
            relay=with_pace(relay, pace),
            connections=config.connections,
            rate=config.rate_per_second,
        ) as transport,
    ):
        yield transport


def batch_sender(settings: Settings, now: datetime, transport: MailTransport) -> BatchSender:
    """``send_batch`` for a caller sending every batch in this process through one open
    transport: what the batches share (stores, secrets, the message factory) is made once,
    not again for every batch (a few milliseconds each, a tenth of a fast send); made again
    when the batches are another send's (a catch-up of new subscribers)."""
    shared: list[_SendContext] = []

    def send(prepared_send: PreparedSend, emails: list[str]) -> SendReport:
        if not shared or shared[0].prepared is not prepared_send:
            shared[:] = [_SendContext.make(prepared_send, settings, now)]
        return send_batch(
            prepared_send, emails, settings, now, transport=transport, context=shared[0]
        )

    return send


@dataclass(frozen=True)
class _SendContext:
    """What every batch of one send uses and nothing in it changes: made once a send."""

    prepared: PreparedSend
    store: SubscriberStore
    log: SendLog
    suppressions: Suppressions
    factory: MessageFactory
    people: bytes
    """The key of recipients' ids in the audit log."""

    @classmethod
    def make(cls, prepared: PreparedSend, settings: Settings, now: datetime) -> _SendContext:
        secret, key = link_secret(settings), dkim_key(settings)
        return cls(
            prepared,
            SubscriberStore(settings.paths.subscribers),
            SendLog(settings.paths.ledger),
            suppressions_for(settings),
            MessageFactory(prepared.rendered, settings, secret, now, key),
            recipient_key(settings),
        )


def send_batch(
    prepared: PreparedSend,
    emails: Sequence[str],
    settings: Settings,
    now: datetime,
    progress: Progress | None = None,
    relay: RelayHooks | None = None,
    notice: Notice | None = None,
    transport: MailTransport | None = None,
    context: _SendContext | None = None,
) -> SendReport:
    """Send one batch of recipients through the configured mail transport, those still
    pending once this run holds them: on one machine under the issue's lock (a concurrent run
    of the same issue waits, ``notice`` tells why, then skips whoever the other run reached);
    with the state in PostgreSQL, those no other worker has claimed (workers share the
    issue's recipients and send in parallel). Nobody gets two copies.
    ``relay`` carries a scheduler's shared limits and password lookup, used only over SMTP;
    ``transport``: one already open (``newsletter_transport``), else one for this batch;
    ``context``: what the send's batches share (``batch_sender``), else made for this one."""
    context = context or _SendContext.make(prepared, settings, now)
    with hold_recipients(settings.paths.state, prepared.send_id, emails, notice) as mine:
        pending = context.log.still_pending(prepared.send_id, mine)
        if transport is not None:
            return _send_pending(context, pending, settings, now, progress, transport)
        with newsletter_transport(settings, relay) as own:
            return _send_pending(context, pending, settings, now, progress, own)


def _send_pending(
    context: _SendContext,
    emails: Sequence[str],
    settings: Settings,
    now: datetime,
    progress: Progress | None,
    transport: MailTransport,
) -> SendReport:
    prepared, store, log = context.prepared, context.store, context.log
    suppressions, factory, people = context.suppressions, context.factory, context.people
    subscribers = {}
    ready: list[str] = []
    known = store.get_many(emails)
    blocked = suppressions.suppressed(emails)
    for email in emails:
        subscriber = known.get(email)
        if subscriber is None or subscriber.status != "confirmed" or email in blocked:
            # Left, bounced, erased or suppressed since the send was frozen: never mail them.
            why = subscriber.status if subscriber else "deleted"
            log.mark(prepared.send_id, email, "skipped", "suppressed" if email in blocked else why)
            continue
        subscribers[email] = subscriber
        ready.append(email)

    def build(email: str) -> bytes:
        return factory.build(subscribers[email])

    publication = publication_of(prepared.rendered.issue)

    def trail(email: str, outcome: str, reply: str) -> AuditRow:
        detail = {"send_id": prepared.send_id, "message_id": message_ref(factory.message_id(email))}
        if outcome != "sent":
            detail["reply"] = without_addresses(reply)
        fields = {
            "publication": publication,
            "actor": prepared.actor,
            "subject": recipient_id(email, people),
            "outcome": outcome,
            "detail": detail,
        }
        return "send", now, fields

    return send_pending(
        log,
        prepared.send_id,
        ready,
        build,
        settings.newsletter.from_email,
        transport,
        on_bounce=lambda email, why: _bounced(store, suppressions, email, now),
        progress=progress,
        trail=trail,
    )


def _bounced(store: SubscriberStore, suppressions: Suppressions, email: str, now: datetime) -> None:
    """A permanent refusal at sending time: the subscriber is bounced and suppressed."""
    store.set_status(email, "bounced", now)
    suppressions.add(email, "bounced", now)
