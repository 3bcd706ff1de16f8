"""Approval gates: whether an action that reaches people may run now, and the record of why.

One rule for every runner. An explicit decision in the release request wins (tests, scripted
runs, ``--approve``); a gate configured "auto" passes; otherwise the last decision recorded
in the audit log for the gate and publication decides (an approval given before an embargo
lifts is used by the lift's run). With none, the gate is *pending*: the first time a release
reaches it, what the approver would see is recorded (recipients by id, never by address) and
the team's test addresses get a "[TEST]" copy. Nothing reaches a real recipient until the
decision is "approved".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from outreach.audit import AuditLog, recipient_id
from outreach.errors import OutreachError
from outreach.secrets_store import recipient_key

if TYPE_CHECKING:
    from outreach.actions import ActionContext
    from outreach.config import Settings

Outcome = Literal["approved", "rejected", "pending", "nobody"]
SAMPLE_SIZE = 5
"""Recipients shown (and logged, by id) as a sample of who a gated email reaches."""


class ApprovalError(OutreachError):
    """An approval cannot be given or taken as asked (unknown gate, a run not paused, a
    demo approval with real mail); nothing was sent."""

    before_any_change: ClassVar[bool] = True


@dataclass(frozen=True)
class Shown:
    """What an approver sees before deciding: the email and who it reaches."""

    subject: str
    count: int
    sample: tuple[str, ...]
    """A few recipients' addresses (shown in the form and on the command line only)."""
    headlines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Headline candidates by kind ("business", "consumer"), the chosen one first."""
    text: str = ""
    html: str | None = None
    remark: str = ""
    """Said instead of asking when nobody would be reached."""

    def logged(self, key: bytes) -> dict[str, Any]:
        """The audit log's copy: recipients by id, headlines by text, no address."""
        return {
            "subject": self.subject,
            "recipients": self.count,
            "sample": [recipient_id(address, key) for address in self.sample],
            "headlines": {kind: list(texts) for kind, texts in self.headlines.items()},
        }


@dataclass(frozen=True)
class TestMessage:
    """A copy of a gated email for a team address: subject prefixed "[TEST]"."""

    message: bytes | EmailMessage
    recipient: str
    sender: str


class Gated(Protocol):
    """What a gated action adds to ``outreach.actions.Action``."""

    gate: Any
    publication: str
    label: str

    def awaiting(self) -> str: ...

    def shown(self, settings: Settings, now: datetime) -> Shown: ...

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]: ...


@dataclass(frozen=True)
class Decision:
    """A gate's state for one publication: approved, rejected, pending (nobody decided), or
    "nobody" (no recipient to ask about)."""

    gate: str
    publication: str
    outcome: Outcome
    actor: str = ""
    at: str = ""
    note: str = ""
    headlines: Mapping[str, str] = field(default_factory=dict)
    """The headlines chosen by text, by kind ("business", "consumer"); empty: the chosen ones."""
    source: str = "log"
    """Where it came from: request, auto, log, form, command."""
    shown: Shown | None = field(default=None, compare=False)

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"


def last_decision(log: AuditLog, gate: str, publication: str) -> Decision | None:
    """The newest decision recorded for a gate and publication (pending ones included)."""
    entry = log.latest("decision", publication, gate)
    if entry is None:
        return None
    detail = entry.detail
    return Decision(
        gate,
        publication,
        entry.outcome,  # type: ignore[arg-type]
        entry.actor,
        entry.at,
        str(detail.get("note", "")),
        dict(detail.get("chosen_headlines") or {}),
        str(detail.get("source", "log")),
    )


PERSONAL_SOURCES = ("command", "form")
"""Decisions a person took on one gate and publication (``outreach approve/reject``, the
pause form): a release-wide ``--approve`` never undoes such a rejection."""


def record_decision(
    log: AuditLog,
    decision: Decision,
    now: datetime,
    key: bytes,
    shown: Shown | None = None,
    **extra: Any,
) -> None:
    """One "decision" event: who, when, the choice, the note, and what was shown."""
    detail: dict[str, Any] = {"source": decision.source, **extra}
    if decision.note:
        detail["note"] = decision.note
    if decision.headlines:
        detail["chosen_headlines"] = dict(decision.headlines)
    if shown is not None:
        detail["shown"] = shown.logged(key)
    log.record(
        "decision",
        now,
        publication=decision.publication,
        actor=decision.actor,
        subject=decision.gate,
        outcome=decision.outcome,
        detail=detail,
    )


def settle(action: Gated, context: ActionContext) -> Decision:
    """The gate's decision for this action in this run (recording what the log must know)."""
    settings, now = context.settings, context.now
    gate, publication = str(action.gate), action.publication
    log = AuditLog(settings.paths.ledger)
    key = recipient_key(settings)
    explicit = context.approvals.get(gate)
    if explicit:
        # An approval given for a whole release (``--approve``, a flow parameter) reaches
        # every publication it releases: it must not undo a rejection a person recorded for
        # one of them. Reversing that takes ``outreach approve ID --gate G``.
        latest = last_decision(log, gate, publication)
        rejected = latest is not None and latest.outcome == "rejected"
        if rejected and latest.source in PERSONAL_SOURCES:  # type: ignore[union-attr]
            return latest  # type: ignore[return-value]
    if explicit is not None:
        decision = Decision(
            gate, publication, "approved" if explicit else "rejected", context.actor,
            now.isoformat(), source="request",
        )  # fmt: skip
        latest = last_decision(log, gate, publication)
        if latest is None or (latest.outcome, latest.actor) != (decision.outcome, decision.actor):
            record_decision(log, decision, now, key)  # a repeated --approve is logged once
        return decision
    if settings.approval.policy(gate) == "auto":
        return Decision(gate, publication, "approved", "release", now.isoformat(), source="auto")
    latest = last_decision(log, gate, publication)
    if latest is not None and latest.outcome in ("approved", "rejected"):
        return latest
    shown = action.shown(settings, now)
    if shown.count == 0:
        return Decision(gate, publication, "nobody", shown=shown)
    pending = Decision(gate, publication, "pending", "release", now.isoformat(), shown=shown)
    if latest is None:  # the gate opens: record what is shown; the team gets its test copies
        record_decision(log, pending, now, key, shown)
        send_tests(action, settings, now, log, key)
    return pending


def send_tests(
    action: Gated, settings: Settings, now: datetime, log: AuditLog, key: bytes
) -> list[str]:
    """A "[TEST]" copy of the gated email to each team address (``approval.test_recipients``),
    each recorded as a "send" with outcome "test"; returns the addresses reached."""
    from outreach.mail_transport import mail_transport

    addresses = list(settings.approval.test_recipients)
    if not addresses:
        return []
    messages = action.test_messages(settings, now, addresses)
    rows: list[tuple[Any, datetime, dict[str, Any]]] = []
    reached: list[str] = []
    with mail_transport(settings) as transport:
        for test in messages:
            outcome = transport.send(
                test.message,
                test.recipient,
                f"test:{action.gate}:{action.publication}:{test.recipient}",
                test.sender,
            )
            if outcome.sent:
                reached.append(test.recipient)
            rows.append((
                "send", now,
                {
                    "publication": action.publication,
                    "actor": "release",
                    "subject": recipient_id(test.recipient, key),
                    "outcome": "test" if outcome.sent else "test failed",
                    "detail": {"gate": action.gate, "detail": outcome.detail},
                },
            ))  # fmt: skip
    log.record_many(rows)
    return reached


def gate_notes(action: Gated, decision: Decision) -> list[str]:
    """What the release report says when the gate does not let the action run."""
    if decision.outcome == "pending":
        return [action.awaiting()]
    if decision.outcome == "nobody":
        return [decision.shown.remark if decision.shown else f"{action.label}: nobody to reach."]
    reason = f": {decision.note}" if decision.note else ""
    return [f"{action.label} rejected; nothing sent{reason}."]


def test_subject(subject: str) -> str:
    return f"[TEST] {subject}"


def test_copies(
    message: EmailMessage, text: str, addresses: Sequence[str], key: str, now: datetime
) -> list[TestMessage]:
    """A gated email as written (its sender and text), addressed to each team address
    instead, its subject marked "[TEST]"; ``key`` names it (the address is appended)."""
    from outreach.mail import build_message, mailbox

    sender = message["From"].addresses[0]
    return [
        TestMessage(
            build_message(
                sender=sender,
                recipient=mailbox("", address),
                subject=test_subject(str(message["Subject"])),
                text=text,
                key=f"{key}:{address}",
                when=now,
            ),
            address,
            sender.addr_spec,
        )
        for address in addresses
    ]
