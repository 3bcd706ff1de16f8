"""What the actions that reach people would send, without sending it: rendered into the build
folder for ``outreach preview`` (the preview runner's ``act``), or described for
``outreach release --dry-run`` (who would receive what).

Nothing here opens a socket, writes to the ledger or the subscriber store, or freezes a send.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from outreach.actions import Action, ActionContext, PingFeed, PitchFindings, SendIssue
from outreach.config import Settings
from outreach.files import atomic_write
from outreach.finding import Finding
from outreach.store import has_state

if TYPE_CHECKING:
    from outreach.newsletter import Issue

PREVIEWS = "previews/"
"""The build folder's section for email previews (never published: build/ only)."""
SAMPLE_SUBSCRIBER = "subscriber@example.org"
"""The address a newsletter preview is made out to: nobody's, by RFC 2606."""
PREVIEW_LINK_SECRET = b"preview-only"
"""Signs the preview's unsubscribe links: they look real and work for nobody."""
FIRST_FEW = 5


@dataclass(frozen=True)
class EmailPreview:
    """One email written into the build folder: its files, subject and recipient."""

    kind: str
    finding_id: str
    recipient: str
    subject: str
    html_path: str
    eml_path: str


class _NothingPitchedYet:
    """The preview's stand-in for the ledger: it shows the pitch every journalist on the beat
    would get at a first release, without opening (or creating) the real ledger."""

    def items(self, *args: object) -> list[str]:
        return []


def _write(build: Path, path: str, content: bytes) -> None:
    atomic_write(build / path, content)


def _text_page(title: str, message: EmailMessage) -> bytes:
    """A plain-text email as a readable page: headers, then the text, all escaped."""
    headers = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(str(message[name]))}</dd>"
        for name in ("From", "To", "Subject")
        if message[name]
    )
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body><main><h1>{html.escape(title)}</h1>"
        f"<dl>{headers}</dl><pre>{html.escape(text)}</pre></main></body></html>\n"
    ).encode()


def newsletter_preview(
    finding: Finding, settings: Settings, build: Path, issue: Issue | None = None
) -> EmailPreview:
    """The finding's newsletter issue (or ``issue``) as one sample subscriber's copy: ``.eml``
    (the wire bytes), ``.html`` (its HTML part, as mail clients get it) and ``.txt`` (its text
    part)."""
    from outreach.newsletter import MessageFactory, finding_issue, render_issue
    from outreach.subscribers import Subscriber

    rendered = render_issue(issue or finding_issue(finding), settings)
    sample = Subscriber(
        SAMPLE_SUBSCRIBER, "Sample Subscriber", tuple(finding.topics), "confirmed", "", "preview"
    )
    raw = MessageFactory(rendered, settings, PREVIEW_LINK_SECRET, finding.published).build(sample)
    message = message_from_bytes(raw, policy=policy.default)
    base = f"{PREVIEWS}newsletter/{finding.id}"
    _write(build, f"{base}.eml", raw)
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    _write(build, f"{base}.html", html_part.get_content().encode("utf-8") if html_part else b"")
    _write(build, f"{base}.txt", text_part.get_content().encode("utf-8") if text_part else b"")
    return EmailPreview(
        "newsletter", finding.id, SAMPLE_SUBSCRIBER, str(message["Subject"]),
        f"{base}.html", f"{base}.eml",
    )  # fmt: skip


def pitch_previews(finding: Finding, context: ActionContext, build: Path) -> list[EmailPreview]:
    """Every pitch the finding's release would send, one ``.eml`` and one ``.html`` each."""
    from outreach.mail_transport import outbox_name
    from outreach.press.pitch import pitch_plan_for

    plan, _, _ = pitch_plan_for(finding, context.settings, _NothingPitchedYet(), context.now)  # type: ignore[arg-type]
    previews = []
    for pitch in plan.pitches:
        base = f"{PREVIEWS}pitches/{finding.id}/{outbox_name(pitch.journalist.email)[:-4]}"
        _write(build, f"{base}.eml", pitch.message.as_bytes())
        subject = str(pitch.message["Subject"])
        _write(build, f"{base}.html", _text_page(subject, pitch.message))
        previews.append(
            EmailPreview(
                "pitch", finding.id, pitch.journalist.email, subject, f"{base}.html", f"{base}.eml"
            )
        )
    return previews


def render_action(action: Action, context: ActionContext, build: Path) -> list[EmailPreview]:
    """The emails an action would send, written into the build folder (others: none)."""
    if isinstance(action, SendIssue):
        return [newsletter_preview(action.finding, context.settings, build, action.issue())]
    if isinstance(action, PitchFindings):
        return [p for f in action.findings for p in pitch_previews(f, context, build)]
    return []


def write_index(previews: Sequence[EmailPreview], build: Path) -> str:
    """``previews/index.html``: every email preview with its subject and recipient."""
    rows = "".join(
        f"<tr><td>{html.escape(p.kind)}</td><td>{html.escape(p.finding_id)}</td>"
        f"<td>{html.escape(p.recipient)}</td>"
        f'<td><a href="/{html.escape(p.html_path)}">{html.escape(p.subject)}</a></td>'
        f'<td><a href="/{html.escape(p.eml_path)}">.eml</a></td></tr>'
        for p in previews
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Email previews</title></head>\n<body><main><h1>Email previews</h1>"
        "<p>Nothing here was sent.</p><table><tr><th>kind</th><th>finding</th>"
        f"<th>recipient</th><th>subject</th><th>raw</th></tr>{rows}</table></main></body></html>\n"
    )
    path = f"{PREVIEWS}index.html"
    _write(build, path, page.encode("utf-8"))
    return path


def describe_action(action: Action, context: ActionContext) -> list[str]:
    """What an action would do, for a dry run: whom it would reach, and whether its gate is
    open. Subscribers are counted (their addresses stay private); journalists are named."""
    settings = context.settings
    gate = action.gate
    decision = context.approvals.get(gate) if gate else True
    state = (
        ""
        if gate is None
        else " (approved)"
        if decision
        else " (not approved: nothing would be sent)"
        if decision is False
        else " (awaits approval)"
    )
    if isinstance(action, SendIssue):
        count = _newsletter_recipients(action.finding, settings)
        return [f"Would send newsletter '{action.finding.id}' to {count} subscriber(s){state}."]
    if isinstance(action, PitchFindings):
        return [line for f in action.findings for line in _pitch_lines(f, context, state)]
    if isinstance(action, PingFeed):
        return [f"Would ping the hubs for {action.feed_url}."]
    describe = getattr(action, "describe", None)  # a plugin's action describes itself
    return describe(context, state) if describe is not None else []


def _newsletter_recipients(finding: Finding, settings: Settings) -> int:
    """Recipients still due: the pending ones of a send begun before, else every confirmed
    subscriber of the finding's topics."""
    from outreach.campaign import send_id_for
    from outreach.newsletter import finding_issue
    from outreach.sending import SendLog
    from outreach.subscribers import SubscriberStore

    if has_state(settings.paths.ledger):
        counts = SendLog(settings.paths.ledger).counts(send_id_for(finding_issue(finding)))
        if counts.total:
            return counts.pending
    if not has_state(settings.paths.subscribers):
        return 0
    return sum(
        1 for _ in SubscriberStore(settings.paths.subscribers).recipient_emails(finding.topics)
    )


def _pitch_lines(finding: Finding, context: ActionContext, state: str) -> list[str]:
    from outreach.ledger import Ledger
    from outreach.press.pitch import pitch_plan_for

    settings = context.settings
    ledger = Ledger(settings.paths.ledger) if has_state(settings.paths.ledger) else None
    plan, _, _ = pitch_plan_for(finding, settings, ledger or _NothingPitchedYet(), context.now)  # type: ignore[arg-type]
    names = [f"{p.journalist.name} <{p.journalist.email}>" for p in plan.pitches]
    more = f", and {len(names) - FIRST_FEW} more" if len(names) > FIRST_FEW else ""
    shown = f": {', '.join(names[:FIRST_FEW])}{more}" if names else ""
    already = f"; {len(plan.already_pitched)} already pitched" if plan.already_pitched else ""
    lines = [f"Would pitch '{finding.id}' to {len(names)} journalist(s){state}{shown}{already}."]
    from outreach.press.timing import waiting

    return lines + [
        f"  {len(g.emails)} of them in {g.zone} in their window: {g.local_time()} ({g.utc_time()})."
        for g in waiting(plan, context.now)
    ]
