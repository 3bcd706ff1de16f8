"""Notices to journalists who were pitched a finding: its corrections, and a changed embargo.

A journalist who holds a release must never find it silently rewritten: each correction
(``correction:`` in front matter) and each new embargo time reaches every journalist the
finding was pitched to (the ledger's ``pitch:<email>`` items), once, as a short email sent
through the pitch sending path, after approval (gate "corrections"). Nobody else gets one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from outreach.config import Settings
from outreach.finding import Correction, Finding
from outreach.ledger import Ledger
from outreach.mail import build_message, mailbox
from outreach.press.journalists import Journalist, load_journalists
from outreach.press.pitch import (
    NO_EMBARGO,
    NOTICE_CHANNEL,
    PITCH_CHANNEL,
    Pitch,
    PitchPlan,
    embargo_mark,
    send_pitches,
)
from outreach.press.release import PressRelease
from outreach.store import has_state
from outreach.suppression import suppressions_for

if TYPE_CHECKING:
    from outreach.actions import ActionContext
    from outreach.gates import Shown, TestMessage

GATE = "corrections"


def pitched(finding_id: str, settings: Settings, ledger: Ledger) -> list[str]:
    """The addresses the finding was pitched to that may still be mailed, in order (the
    ledger knows them). A journalist who has opted out (in the list, or on the suppression
    list: erased, opted out, bounced, complained) gets no notice either; a pitch recorded
    under an erased person's id instead of an address names nobody to write to."""
    items = ledger.items(finding_id, PITCH_CHANNEL, settings.mail.platform)
    addresses = sorted(
        item.removeprefix("pitch:") for item in items if item.startswith("pitch:") and "@" in item
    )
    listed = {j.email: j for j in load_journalists(settings.paths.press / "journalists.csv")}
    addresses = [a for a in addresses if not (a in listed and listed[a].opted_out)]
    return _not_suppressed(settings, addresses)


def _not_suppressed(settings: Settings, addresses: list[str]) -> list[str]:
    """``addresses`` without those on the suppression list (erased, opted out, bounced,
    complained)."""
    blocked = suppressions_for(settings).suppressed(addresses) if addresses else set()
    return [a for a in addresses if a not in blocked]


def correction_item(correction: Correction, email: str) -> str:
    return f"correction:{correction.date.isoformat()}:{email}"


@dataclass(frozen=True)
class Due:
    """What the pitched journalists have not been told yet."""

    corrections: tuple[tuple[Correction, str], ...] = ()
    """(correction, address) pairs not sent yet."""
    embargo: tuple[str, ...] = ()
    """Addresses whose pitch (or last notice) carried another embargo time than now."""

    def __bool__(self) -> bool:
        return bool(self.corrections or self.embargo)


def notices_due(finding: Finding, settings: Settings, ledger: Ledger) -> Due:
    """Corrections and the embargo change each pitched journalist is still owed."""
    addresses = pitched(finding.id, settings, ledger)
    if not addresses:
        return Due()
    told = ledger.items(finding.id, NOTICE_CHANNEL, settings.mail.platform)
    corrections = tuple(
        (correction, email)
        for correction in finding.correction
        for email in addresses
        if correction_item(correction, email) not in told
    )
    now_mark = embargo_mark(finding)
    # A pitch sent before its embargo time was recorded carries no record: nothing to compare.
    embargo = tuple(
        email
        for email in addresses
        if (record := told.get(f"embargo:{email}")) is not None and record.content_hash != now_mark
    )
    return Due(corrections, embargo)


def _greeting(journalist: Journalist) -> str:
    return journalist.name.split()[0] if journalist.name else "there"


def _sign_off(release: PressRelease) -> list[str]:
    contact = release.contact
    return [
        "",
        contact.name,
        f"{contact.role}, {contact.organisation}",
        f"{contact.email} · {contact.phone}",
    ]


def correction_text(release: PressRelease, journalist: Journalist, correction: Correction,
                    kit_url: str) -> str:  # fmt: skip
    lines = [
        f"Dear {_greeting(journalist)},",
        "",
        f'We have corrected the release we sent you, "{release.headline}":',
        "",
        f"Updated {correction.date.day} {correction.date:%B %Y}: {correction.note}",
        "",
        "The corrected release and press kit are at the same address:",
        kit_url,
        *_sign_off(release),
    ]
    return "\n".join(lines) + "\n"


def embargo_text(release: PressRelease, journalist: Journalist, kit_url: str) -> str:
    lines = [
        f"Dear {_greeting(journalist)},",
        "",
        f'The embargo on "{release.headline}" has changed. It now reads:',
        "",
        release.release_line,
        "",
        "The press kit, updated, is at the same address:",
        kit_url,
        *_sign_off(release),
    ]
    return "\n".join(lines) + "\n"


def _journalist(email: str, known: dict[str, Journalist]) -> Journalist:
    """The journalist as listed now, or just the address when they left the list."""
    return known.get(email) or Journalist("", email, "", (), (), True, False)


def notice_plans(
    finding: Finding, settings: Settings, ledger: Ledger, now: datetime
) -> tuple[list[tuple[Correction, PitchPlan]], PitchPlan | None]:
    """One plan per correction still owed, and one for the embargo change (None: none)."""
    from outreach.press.assemble import load_press_data, release_for
    from outreach.press.kit import kit_base

    due = notices_due(finding, settings, ledger)
    if not due:
        return [], None
    release, _ = release_for(finding, settings, load_press_data(settings))
    kit_url = settings.site.base_url + kit_base(finding, settings)
    contact = release.contact
    known = {j.email: j for j in load_journalists(settings.paths.press / "journalists.csv")}

    def message(journalist: Journalist, subject: str, text: str, item: str) -> Pitch:
        built = build_message(
            sender=mailbox(contact.name, contact.email),
            recipient=mailbox(journalist.name, journalist.email),
            subject=subject,
            text=text,
            key=f"{NOTICE_CHANNEL}:{finding.id}:{item}",
            when=now,
        )
        return Pitch(journalist, built, text, item)

    corrections: list[tuple[Correction, PitchPlan]] = []
    for correction in finding.correction:
        plan = PitchPlan(finding.id, ledger_channel=NOTICE_CHANNEL)
        for owed, email in due.corrections:
            if owed == correction:
                journalist = _journalist(email, known)
                text = correction_text(release, journalist, correction, kit_url)
                item = correction_item(correction, email)
                plan.pitches.append(
                    message(journalist, f"Correction: {release.subhead}", text, item)
                )
        if plan.pitches:
            corrections.append((correction, plan))
    embargo = None
    if due.embargo:
        mark = embargo_mark(finding)
        embargo = PitchPlan(finding.id, ledger_channel=NOTICE_CHANNEL, embargo=mark)
        for email in due.embargo:
            journalist = _journalist(email, known)
            text = embargo_text(release, journalist, kit_url)
            subject = f"Embargo changed: {release.subhead}"
            embargo.pitches.append(
                message(journalist, subject, text, f"embargo-notice:{mark}:{email}")
            )
    return corrections, embargo


@dataclass(frozen=True)
class NotifyPitched:
    """Tell the journalists a finding was pitched to about its corrections and a changed
    embargo (after approval: gate "corrections"), each notice once per journalist."""

    finding: Finding
    gate: ClassVar[str | None] = GATE

    @property
    def publication(self) -> str:
        return self.finding.id

    @property
    def label(self) -> str:
        return f"Correction or embargo notices for '{self.finding.id}'"

    def _pitches(self, settings: Settings, now: datetime) -> list[Pitch]:
        corrections, embargo = notice_plans(
            self.finding, settings, Ledger(settings.paths.ledger), now
        )
        plans = [plan for _, plan in corrections] + ([embargo] if embargo is not None else [])
        return [pitch for plan in plans for pitch in plan.pitches]

    def shown(self, settings: Settings, now: datetime) -> Shown:
        """The notices as the approver sees them: the first one's subject and text, and who
        they reach (every pitched journalist owed one)."""
        from outreach.gates import SAMPLE_SIZE, Shown

        pitches = self._pitches(settings, now)
        first = pitches[0] if pitches else None
        reached = list(dict.fromkeys(p.journalist.email for p in pitches))
        return Shown(
            subject=str(first.message["Subject"]) if first else "",
            count=len(pitches),
            sample=tuple(reached[:SAMPLE_SIZE]),
            text=first.text if first else "",
            remark=f"{self.label}: no pitched journalist is owed one.",
        )

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        """The first notice, as written, addressed to each team address instead."""
        from outreach.gates import test_copies

        pitches = self._pitches(settings, now)
        if not pitches:
            return []
        sample = pitches[0]
        key = f"test-notice:{self.finding.id}"
        return test_copies(sample.message, sample.text, addresses, key, now)

    def awaiting(self) -> str:
        return (
            f"Correction or embargo notices for '{self.finding.id}' to the journalists it was "
            f"pitched to await approval (gate '{GATE}'): run 'outreach approve "
            f"{self.finding.id}', or approve in the Prefect UI on a server; nothing sent."
        )

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> NotifyPitched | None:
        """The pending notices of a finding, rebuilt for ``outreach approve`` (None: none)."""
        from outreach.release_steps import load_catalog

        finding = load_catalog(settings).get(publication_id)
        if finding is None or finding.retraction is not None:
            return None
        return (
            cls(finding) if notices_due(finding, settings, Ledger(settings.paths.ledger)) else None
        )

    def run(self, context: ActionContext) -> list[str]:
        from outreach.audit import AuditLog

        settings, now, finding = context.settings, context.now, self.finding
        ledger = Ledger(settings.paths.ledger)
        audit = AuditLog(settings.paths.ledger)
        corrections, embargo = notice_plans(finding, settings, ledger, now)
        notes: list[str] = []
        for correction, plan in corrections:
            outcome = send_pitches(plan, settings, ledger, now)
            audit.record(
                "correction", now, publication=finding.id, actor="release",
                subject=correction.date.isoformat(), outcome="sent",
                detail={"note": correction.note, "sent": len(outcome.sent),
                        "not_sent": len(outcome.not_sent)},
            )  # fmt: skip
            notes.append(
                f"Correction of {correction.date.isoformat()} to '{finding.id}': sent to "
                f"{len(outcome.sent)} pitched journalist(s)."
            )
            notes += _not_sent(finding, outcome.not_sent)
        if embargo is not None:
            outcome = send_pitches(embargo, settings, ledger, now)
            audit.record(
                "correction", now, publication=finding.id, actor="release", subject="embargo",
                outcome="sent",
                detail={"embargo": embargo.embargo, "sent": len(outcome.sent),
                        "not_sent": len(outcome.not_sent)},
            )  # fmt: skip
            new_time = "lifted" if embargo.embargo == NO_EMBARGO else f"now {embargo.embargo}"
            notes.append(
                f"Embargo of '{finding.id}' changed ({new_time}): told {len(outcome.sent)} "
                "pitched journalist(s)."
            )
            notes += _not_sent(finding, outcome.not_sent)
        return notes


def _not_sent(finding: Finding, not_sent: list[tuple[str, str]]) -> list[str]:
    return [
        f"Notice not sent: {email} ({reason}); release '{finding.id}' again to retry."
        for email, reason in not_sent
    ]


def editorial_notices(findings: tuple[Finding, ...], settings: Settings) -> list[NotifyPitched]:
    """An action for each finding whose pitched journalists are owed a notice (the press
    channel's hook asks; nothing is sent here). Without a ledger nobody was pitched yet, and
    none is made (a preview never creates one)."""
    if not has_state(settings.paths.ledger):
        return []
    ledger = Ledger(settings.paths.ledger)
    return [NotifyPitched(f) for f in findings if notices_due(f, settings, ledger)]
