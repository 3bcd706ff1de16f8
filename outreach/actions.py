"""After-publish actions: what a channel asks for once its files are out (ping a feed, pitch
journalists, send a newsletter issue), as values the release runner executes.

A channel's ``after_publish`` hook returns these; it never does the work itself, so rendering
and hooks stay free of sockets and mail. The plain runner calls ``run``; the Prefect runner
runs each action in a task, or, for the ones people must approve, in its own flow step (the
approval pause). An action that reaches people names its approval ``gate``: it runs only when
``outreach.gates.settle`` finds that gate approved (the request, an "auto" policy or a
recorded decision). Each gated class can be rebuilt from a publication's id
(``for_approval``) and is listed in ``GATED_ACTIONS``, so ``outreach approve ID`` can run it.
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
    from outreach.gates import Decision, Shown, TestMessage


@dataclass(frozen=True)
class ActionContext:
    """What an action may use when it runs: settings, the release's time and its approvals."""

    settings: Settings
    now: datetime
    approvals: Mapping[str, bool | None] = field(default_factory=dict)
    decision: Decision | None = None
    """The gate's decision for the action being run (its chosen headlines, its note)."""
    actor: str = "release"
    """Who the explicit approvals in ``approvals`` are recorded as coming from."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Platform credentials from Prefect Secret blocks, filled inside the task that runs the
    action (never a task parameter); empty: ``outreach.secrets_store`` reads the environment."""
    config: str | None = None
    """The configuration file the release named (a run scheduled for later names it too)."""


@dataclass(frozen=True)
class ScheduledRun:
    """Work an action wants done later, at ``at``: on a server, a run of ``deployment`` at
    that time (``key`` its idempotency key, so a release run twice schedules it once); on
    embedded defaults, nothing runs by itself and ``note`` tells the person what to run then."""

    deployment: str
    parameters: Mapping[str, str]
    at: datetime
    key: str
    label: str
    """What it is, for the report: "the 24h reminder of 'x'"."""
    note: str


class Schedules(Protocol):
    """An action whose work is later runs (reminders): the Prefect runner schedules them;
    the plain runner's ``run`` says when to start each by hand."""

    def scheduled_runs(self, context: ActionContext) -> list[ScheduledRun]: ...


@dataclass(frozen=True)
class HookContext:
    """What a channel's after-publish hook sees: its receipts and the publications it
    released (public channels: only those public now), and whether this is a rebuild."""

    settings: Settings
    receipts: Sequence[Receipt]
    released: Sequence[Finding]
    rebuild: bool = False
    now: datetime | None = None
    """The release's time (what is upcoming, whether a form is open); None: not known."""


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
    """Pitch one finding to the journalists whose beats it matches (after approval).

    One finding per action: its gate is decided per finding."""

    findings: tuple[Finding, ...]
    gate: ClassVar[str | None] = "pitches"

    def __post_init__(self) -> None:
        if len(self.findings) != 1:
            raise ValueError("PitchFindings takes one finding: its gate is decided per finding")

    @property
    def publication(self) -> str:
        return self.findings[0].id

    @property
    def label(self) -> str:
        return f"Pitches for '{self.publication}'"

    def awaiting(self) -> str:
        return (
            f"{self.label} await approval; nothing sent: run 'outreach approve "
            f"{self.publication} --gate pitches' (or 'outreach reject ...'), or decide in the "
            "Prefect UI on a server."
        )

    def shown(self, settings: Settings, now: datetime) -> Shown:
        from outreach.gates import Shown
        from outreach.ledger import Ledger
        from outreach.press.pitch import pitch_plan_for

        plan, _, choice = pitch_plan_for(
            self.findings[0], settings, Ledger(settings.paths.ledger), now
        )
        already = f" ({len(plan.already_pitched)} already pitched)" if plan.already_pitched else ""
        first = plan.pitches[0] if plan.pitches else None
        return Shown(
            subject=str(first.message["Subject"]) if first else "",
            count=len(plan.pitches),
            sample=tuple(p.journalist.email for p in plan.pitches[:SAMPLE]),
            headlines={
                "business": tuple(h.text for h in (choice.business, *choice.business_runners_up)),
                "consumer": tuple(h.text for h in (choice.consumer, *choice.consumer_runners_up)),
            },
            text=first.text if first else "",
            remark=f"{self.label}: no journalist left to pitch{already}.",
        )

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        """The first pitch, as written, addressed to each team address instead."""
        from outreach.gates import test_copies
        from outreach.ledger import Ledger
        from outreach.press.pitch import pitch_plan_for

        finding = self.findings[0]
        plan, _, _ = pitch_plan_for(finding, settings, Ledger(settings.paths.ledger), now)
        if not plan.pitches:
            return []
        sample = plan.pitches[0]
        return test_copies(sample.message, sample.text, addresses, f"test-pitch:{finding.id}", now)

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> PitchFindings | None:
        """The pitches of a released finding or report (``report:<id>``; None: not released
        on the press channel yet)."""
        from outreach.ledger import Ledger

        if publication_id.startswith("report:"):
            from outreach.reports.launch import PitchReport, read_announcement
            from outreach.reports.model import read_reports

            report_id = publication_id.removeprefix("report:")
            reports = read_reports(settings)
            released = Ledger(settings.paths.ledger).released("press")
            if report_id not in reports or publication_id not in released:
                return None
            return PitchReport((read_announcement(reports[report_id], settings),), report_id)
        finding = _finding(publication_id, settings)
        if finding.id not in Ledger(settings.paths.ledger).released("press"):
            return None
        return cls((finding,))

    def run(self, context: ActionContext) -> list[str]:
        """The plain runner's pitching: approved, sent at once with the chosen headlines."""
        from outreach.ledger import Ledger
        from outreach.press.pitch import pitch_plan_for, pitched_notes, send_pitches
        from outreach.press.timing import for_sending

        settings, now = context.settings, context.now
        chosen = dict(context.decision.headlines) if context.decision else {}
        ledger = Ledger(settings.paths.ledger)
        notes: list[str] = []
        for finding in self.findings:
            plan, release, _ = pitch_plan_for(
                finding, settings, ledger, now, chosen.get("business"), chosen.get("consumer")
            )
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
            notes += pitched_notes(finding.id, plan, outcome, settings.mail.platform)
        return notes


@dataclass(frozen=True)
class SendIssue:
    """Send one finding to the subscribers of its topics (resumes a send begun before)."""

    finding: Finding
    gate: ClassVar[str | None] = "newsletter"

    @property
    def publication(self) -> str:
        return self.finding.id

    @property
    def label(self) -> str:
        return f"Newsletter '{self.finding.id}'"

    def awaiting(self) -> str:
        return (
            f"{self.label} awaits approval; nothing sent: run 'outreach approve "
            f"{self.finding.id} --gate newsletter' (or 'outreach reject ...'), or decide in "
            "the Prefect UI on a server."
        )

    def shown(self, settings: Settings, now: datetime) -> Shown:
        from itertools import islice

        from outreach.campaign import send_id_for
        from outreach.gates import Shown
        from outreach.newsletter import render_issue
        from outreach.sending import SendLog
        from outreach.subscribers import SubscriberStore

        issue = self.issue()
        log = SendLog(settings.paths.ledger)
        counts = log.counts(send_id_for(issue))
        if counts.total:  # frozen before: only those still pending would get it
            count = counts.pending
            sample = next(iter(log.pending_batches(send_id_for(issue), SAMPLE)), [])
        else:
            store = SubscriberStore(settings.paths.subscribers)
            sample, count = [], 0
            for email in store.recipient_emails(issue.topics):
                if count < SAMPLE:
                    sample.append(email)
                count += 1
        rendered = render_issue(issue, settings)
        return Shown(
            subject=issue.subject,
            count=count,
            sample=tuple(islice(sample, SAMPLE)),
            text=rendered.text,
            html=rendered.html,
            remark=f"{self.label}: no confirmed subscriber of its topics is waiting for it; "
            "nothing sent.",
        )

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        """The issue as a subscriber of all its topics gets it, to each team address."""
        from dataclasses import replace

        from outreach.campaign import link_secret
        from outreach.gates import TestMessage, test_subject
        from outreach.newsletter import MessageFactory, render_issue
        from outreach.subscribers import Subscriber

        issue = self.issue()
        rendered = render_issue(replace(issue, subject=test_subject(issue.subject)), settings)
        factory = MessageFactory(rendered, settings, link_secret(settings), now)
        topics = tuple(sorted(issue.topics))
        return [
            TestMessage(
                factory.build(Subscriber(address, "", topics, "confirmed", "", "test")),
                address,
                settings.newsletter.from_email,
            )
            for address in addresses
        ]

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> SendIssue | None:
        """The issue of a public finding (None: still under embargo; the lift sends it), or
        the announcement of an event (``event:<id>``)."""
        if publication_id.startswith("event:"):
            from outreach.events.actions import AnnounceEvent

            return AnnounceEvent.for_approval(publication_id, settings, now)  # type: ignore[return-value]
        from outreach.newsletter import is_digest_key

        if is_digest_key(publication_id):
            return None  # a digest is rebuilt by the send that asked for it, run again
        finding = _finding(publication_id, settings)
        return cls(finding) if finding.is_public(now) else None

    def issue(self):
        """The issue to send (a report's announcement links its landing page instead)."""
        from outreach.newsletter import finding_issue

        return finding_issue(self.finding)

    def run(self, context: ActionContext) -> list[str]:
        from outreach.campaign import batch_sender, deliver, newsletter_transport, prepare_send

        settings, now = context.settings, context.now
        prepared = prepare_send(self.issue(), settings, now)
        with newsletter_transport(settings) as transport:  # one set of connections for all
            send = batch_sender(settings, now, transport)
            return [deliver(prepared, settings, send)]


@dataclass(frozen=True)
class SendDigest(SendIssue):
    """Several public findings as one issue (``outreach newsletter send --digest``, the
    weekly digest), behind the same "newsletter" gate as a finding's issue. Its publication
    is the digest's key, so a decision covers exactly this selection and title."""

    others: tuple[Finding, ...] = ()
    """The digest's findings besides ``finding``."""
    title: str = ""

    @classmethod
    def of(cls, findings: Sequence[Finding], title: str) -> SendDigest:
        first, *others = findings
        return cls(first, tuple(others), title)

    @property
    def publication(self) -> str:
        return self.issue().key

    @property
    def label(self) -> str:
        return f"Newsletter digest '{self.title}'"

    def awaiting(self) -> str:
        return (
            f"{self.label} awaits approval; nothing sent: run 'outreach approve "
            f"{self.publication} --gate newsletter' (or 'outreach reject ...') and then the "
            "same send again, or decide in the Prefect UI on a server."
        )

    def issue(self):
        from outreach.newsletter import digest_issue

        return digest_issue((self.finding, *self.others), self.title)


def newsletter_action(findings: Sequence[Finding], title: str | None) -> SendIssue:
    """The gated send of one finding's issue, or of several as a digest titled ``title``."""
    return SendDigest.of(findings, title) if title else SendIssue(findings[0])


SAMPLE = 5
"""Recipients shown as a sample when a gate opens (outreach.gates.SAMPLE_SIZE)."""

GATED_ACTIONS: dict[str, type] = {"pitches": PitchFindings, "newsletter": SendIssue}
"""Gate -> the action class ``outreach approve`` rebuilds with ``for_approval`` (the
editorial gates join it in ``gated_actions``)."""


def gated_actions() -> dict[str, type]:
    """Every gate and its action class: the ones above, the corrections and changed-embargo
    notices, and retractions (imported when asked: pitching code is heavy to import)."""
    from outreach.press.notices import NotifyPitched
    from outreach.retraction import RetractPublication
    from outreach.social.post import PostSocial

    return {
        **GATED_ACTIONS,
        "corrections": NotifyPitched,
        "retraction": RetractPublication,
        "social": PostSocial,
    }


def _finding(publication_id: str, settings: Settings) -> Finding:
    """A finding by id, validated (ReleaseError naming the known ids when there is none)."""
    from outreach.release_steps import load_catalog, resolve_ids

    catalog = load_catalog(settings)
    (finding_id,) = resolve_ids(catalog, [publication_id])
    return catalog[finding_id]


def run_gated(action: Action, context: ActionContext) -> list[str]:
    """Run an action if its gate allows (the plain runner's policy: no pause, a note)."""
    if action.gate is None:
        return action.run(context)
    from dataclasses import replace

    from outreach.gates import gate_notes, settle

    decision = settle(action, context)  # type: ignore[arg-type]
    if not decision.approved:
        return gate_notes(action, decision)  # type: ignore[arg-type]
    return action.run(replace(context, decision=decision))
