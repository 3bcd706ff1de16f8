"""Before a newsletter send or catch-up: is anyone due, and if nobody is, why.

A send that would reach nobody says so in words a comms team can act on ("all 3 recipients
were already sent", "no confirmed subscriber matches topics ...", "run with
--new-subscribers") instead of a count of zeros, and the command exits non-zero. Read-only:
nothing is frozen or added here (``outreach.campaign`` does that, in its transactions).
"""

from __future__ import annotations

from outreach.campaign import not_sent_yet, send_id_for
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.newsletter import Issue
from outreach.sending import SendCounts, SendLog
from outreach.subscribers import SubscriberStore


class NothingToSend(OutreachError):
    """Nobody is due for this issue: nothing was sent (the message says why and what to do)."""


def nothing_due(issue: Issue, settings: Settings, new_subscribers: bool = False) -> str | None:
    """Why a send (or, with ``new_subscribers``, a catch-up) of ``issue`` would reach nobody;
    None when someone is due (pending recipients, or subscribers who joined since)."""
    log = SendLog(settings.paths.ledger)
    store = SubscriberStore(settings.paths.subscribers)
    send_id = send_id_for(issue)
    topics = ", ".join(sorted(issue.topics)) or "(none)"
    nobody = f"no confirmed subscriber matches its topics ({topics})"
    if not log.is_frozen(send_id):
        if new_subscribers:
            return not_sent_yet(issue)
        if next(iter(store.recipient_emails(issue.topics)), None) is None:
            return f"Newsletter '{issue.key}' was not sent: {nobody}."
        return None
    counts = log.counts(send_id)
    if counts.pending:
        return None
    late = len(log.not_in(send_id, store.recipient_emails(issue.topics)))
    if new_subscribers:
        if late:
            return None
        if not counts.total:
            return f"Newsletter '{issue.key}' (new subscribers): nothing was sent: {nobody}."
        return (
            f"Newsletter '{issue.key}' (new subscribers): nothing was sent: {_all_reached(counts)}"
            ", and no matching confirmed subscriber joined since."
        )
    hint = (
        f" {late} matching subscriber{'s' if late != 1 else ''} joined since: run the command "
        "again with --new-subscribers to send it to them."
        if late
        else ""
    )
    if not counts.total:
        return (
            f"Newsletter '{issue.key}' went out to nobody ({nobody} when it was sent): "
            f"nothing was sent.{hint}"
        )
    return (
        f"Newsletter '{issue.key}' was already sent ({counts.sent} sent, {counts.bounced} "
        f"bounced, of {counts.total} recipients): nothing was sent; {_all_reached(counts)}." + hint
    )


def _all_reached(counts: SendCounts) -> str:
    skipped = counts.total - counts.sent - counts.bounced - counts.pending
    text = f"all {counts.total} recipients were already sent"
    if counts.bounced or skipped:
        text += " (or bounced, or left before their turn)"
    return text
