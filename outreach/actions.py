"""After-publish actions: what a channel asks for once its files are out (ping a feed, pitch
journalists, send a newsletter issue), as values the release runner executes.

A channel's ``after_publish`` hook returns these; it never does the work itself, so rendering
and hooks stay free of sockets and mail. The plain runner calls ``run``; the Prefect runner
runs each action in a task, or, for the ones people must approve, in its own flow step (the
pitch approval pause). An action that reaches people names its approval ``gate``: it runs
only when the release request approves that gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from outreach.vocabulary import Receipt

if TYPE_CHECKING:
    from outreach.config import Settings
    from outreach.finding import Finding


@dataclass(frozen=True)
class ActionContext:
    """What an action may use when it runs: settings, the release's time and its approvals."""

    settings: Settings
    now: datetime
    approvals: Mapping[str, bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class HookContext:
    """What a channel's after-publish hook sees: its receipts and the publications it
    released (public channels: only those public now), and whether this is a rebuild."""

    settings: Settings
    receipts: Sequence[Receipt]
    released: Sequence[Finding]
    rebuild: bool = False


class Action(Protocol):
    """One piece of after-publish work. ``run`` never raises for an expected failure of the
    outside world when the action is best-effort (pings); it returns notes for the report."""

    gate: ClassVar[str | None]
    """The approval this action needs before it reaches people (None: none needed)."""

    def awaiting(self) -> str:
        """The note shown when the gate is not decided yet."""
        ...

    def run(self, context: ActionContext) -> list[str]: ...


@dataclass(frozen=True)
class PingFeed:
    """Tell WebSub hubs and Podcast Index that a feed changed."""

    feed_url: str
    websub_hubs: tuple[str, ...]
    pubnotify_url: str | None
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def run(self, context: ActionContext) -> list[str]:
        from outreach.platforms.pings import ping_feed

        results = ping_feed(self.feed_url, self.websub_hubs, self.pubnotify_url)
        return [f"ping {r.target}: {'ok' if r.ok else 'failed'} ({r.detail})" for r in results]


@dataclass(frozen=True)
class PitchFindings:
    """Pitch each finding to the journalists whose beats it matches (after approval)."""

    findings: tuple[Finding, ...]
    gate: ClassVar[str | None] = "pitches"

    def awaiting(self) -> str:
        ids = ", ".join(f"'{f.id}'" for f in self.findings)
        return (
            f"Pitches for {ids} await approval: run 'outreach release {self.findings[0].id} "
            "--approve', or approve in the Prefect UI on a server."
        )

    def run(self, context: ActionContext) -> list[str]:
        """The plain runner's pitching: approved in the request, sent at once."""
        from outreach.ledger import Ledger
        from outreach.press.pitch import pitch_plan_for, send_pitches
        from outreach.press.timing import for_sending

        settings, now = context.settings, context.now
        ledger = Ledger(settings.paths.ledger)
        notes: list[str] = []
        for finding in self.findings:
            plan, release, _ = pitch_plan_for(finding, settings, ledger, now)
            if not plan.pitches:
                already = plan.already_pitched
                count = f" ({len(already)} already pitched)" if already else ""
                notes.append(f"Pitches for '{finding.id}': no journalist left to pitch{count}.")
                continue
            # Each journalist in their working morning: the rest wait for their window.
            plan, timing = for_sending(finding.id, plan, release.contact, settings, now)
            notes.extend(note for note in timing if note not in notes)
            if not plan.pitches:
                continue
            outcome = send_pitches(plan, settings, ledger, now)
            meanwhile = len(plan.pitches) - len(outcome.sent) - len(outcome.not_sent)
            by_other = f" ({meanwhile} pitched meanwhile by another run)" if meanwhile else ""
            notes.append(
                f"Pitched '{finding.id}' to {len(outcome.sent)} journalist(s) via "
                f"{settings.mail.platform}{by_other}."
            )
            notes.extend(
                f"Not pitched: {email} ({reason}); correct press/journalists.csv and release "
                f"'{finding.id}' again to retry."
                for email, reason in outcome.not_sent
            )
        return notes


@dataclass(frozen=True)
class SendIssue:
    """Send one finding to the subscribers of its topics (resumes a send begun before)."""

    finding: Finding
    gate: ClassVar[str | None] = "newsletter"

    def awaiting(self) -> str:
        return f"Newsletter '{self.finding.id}' awaits approval; nothing sent."

    def issue(self):
        """The issue to send (a report's announcement links its landing page instead)."""
        from outreach.newsletter import finding_issue

        return finding_issue(self.finding)

    def run(self, context: ActionContext) -> list[str]:
        from outreach.campaign import deliver, prepare_send, send_batch

        settings, now = context.settings, context.now
        prepared = prepare_send(self.issue(), settings, now)
        return [deliver(prepared, settings, lambda p, b: send_batch(p, b, settings, now))]


def run_gated(action: Action, context: ActionContext) -> list[str]:
    """Run an action if its gate allows (the plain runner's policy)."""
    if action.gate is not None:
        decision = context.approvals.get(action.gate)
        if decision is None:
            return [action.awaiting()]
        if decision is False:
            return [f"{type(action).__name__}: not approved; nothing sent."]
    return action.run(context)
