"""A pitch plan in time: each journalist's send slot, the groups that share one, which pitches
are due now, and the notes and calendar entries that say when the rest go.

The slots come from ``outreach.press.windows``; this module applies them to a plan. A plan
without slots (notices, or nobody's zone known) is sent at once, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from outreach.config import Settings
from outreach.ledger import Ledger
from outreach.press.pitch import PitchPlan
from outreach.press.release import MediaContact
from outreach.press.windows import Slot, WindowRules, next_slot

WINDOW_CHANNEL = "press-window"
"""Ledger records of the windows an approved release left pitches waiting for
(``window:<zone>@<UTC ISO time>``, with the number of journalists), for the calendar."""


@dataclass(frozen=True)
class Group:
    """The journalists whose pitches go at the same moment in the same zone."""

    zone: str
    slot: Slot
    emails: tuple[str, ...]

    def local_time(self) -> str:
        local = self.slot.local()
        return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"

    def utc_time(self) -> str:
        return self.slot.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def with_slots(
    plan: PitchPlan, contact: MediaContact, rules: WindowRules, now: datetime, lift
) -> PitchPlan:
    """``plan`` with each pitch's slot (journalists without a zone take the contact's)."""
    slots = {
        p.journalist.email: next_slot(p.journalist, now, lift, rules, contact.timezone)
        for p in plan.pitches
    }
    return replace(plan, slots=slots)


def groups(plan: PitchPlan) -> list[Group]:
    """The plan's pitches by (zone, slot), soonest first."""
    by_key: dict[tuple[datetime, str], list[str]] = {}
    kinds: dict[tuple[datetime, str], Slot] = {}
    for pitch in plan.pitches:
        slot = plan.slots.get(pitch.journalist.email)
        if slot is None:
            continue
        key = (slot.at, slot.zone)
        by_key.setdefault(key, []).append(pitch.journalist.email)
        kinds.setdefault(key, slot)
    return [
        Group(zone, kinds[(at, zone)], tuple(by_key[(at, zone)])) for at, zone in sorted(by_key)
    ]


def due_now(plan: PitchPlan, now: datetime) -> PitchPlan:
    """The plan cut to the pitches whose slot has come (all of them when there are no slots)."""
    if not plan.slots:
        return plan
    due = [
        p
        for p in plan.pitches
        if p.journalist.email not in plan.slots or plan.slots[p.journalist.email].at <= now
    ]
    return replace(plan, pitches=due)


def waiting(plan: PitchPlan, now: datetime) -> list[Group]:
    return [g for g in groups(plan) if g.slot.at > now]


def zone_note(plan: PitchPlan, contact: MediaContact) -> str | None:
    """Said once per release: who has no zone of their own, and what is used instead."""
    missing = [p for p in plan.pitches if not p.journalist.timezone]
    if not missing:
        return None
    if contact.timezone:
        return (
            f"{len(missing)} journalist(s) have no timezone in press/journalists.csv: "
            f"their send window is in {contact.timezone} (press/contact.toml)."
        )
    return (
        f"{len(missing)} journalist(s) have no timezone in press/journalists.csv and "
        "press/contact.toml sets none: their pitches go at once; add timezone = "
        '"Europe/London" (your zone) to press/contact.toml to keep them to working mornings.'
    )


def waiting_notes(finding_id: str, plan: PitchPlan, now: datetime) -> list[str]:
    """When each waiting group is due, and how it gets sent then."""
    return [
        f"Pitches for '{finding_id}' to {len(g.emails)} journalist(s) in {g.zone} wait for "
        f"their window: {g.local_time()} ({g.utc_time()}); release '{finding_id}' again "
        "then (see 'outreach calendar')."
        for g in waiting(plan, now)
    ]


def early_notes(finding_id: str, plan: PitchPlan, now: datetime) -> list[str]:
    """Pitches sent outside the morning window because of the embargo, said so."""
    return [
        f"Pitches for '{finding_id}' to {len(g.emails)} journalist(s) in {g.zone} go at "
        f"{g.local_time()}: {g.slot.reason}."
        for g in groups(plan)
        if g.slot.kind == "before-lift" or (g.slot.kind == "now" and g.slot.reason)
        if g.slot.reason != "no time zone known"
    ]


def remember_waiting(finding_id: str, plan: PitchPlan, settings: Settings, now: datetime) -> None:
    """Record the waiting windows of an approved release, for ``outreach calendar``."""
    ledger = Ledger(settings.paths.ledger)
    for group in waiting(plan, now):
        item = f"window:{group.zone}@{group.slot.at.astimezone(UTC).isoformat()}"
        count = str(len(group.emails))
        ledger.record(finding_id, WINDOW_CHANNEL, settings.mail.platform, item, count, None, now)


@dataclass(frozen=True)
class WindowEntry:
    at: datetime
    finding_id: str
    zone: str
    journalists: int


def waiting_windows(
    settings: Settings, now: datetime, published: Mapping[str, object] | None = None
) -> list[WindowEntry]:
    """The pitch windows approved releases are waiting for, soonest first."""
    ledger = Ledger(settings.paths.ledger)
    entries: list[WindowEntry] = []
    for finding_id, items in ledger.channel_items(WINDOW_CHANNEL, settings.mail.platform).items():
        if published is not None and finding_id not in published:
            continue
        for item, record in items.items():
            zone, _, at_text = item.removeprefix("window:").partition("@")
            at = datetime.fromisoformat(at_text)
            if at > now:
                entries.append(WindowEntry(at, finding_id, zone, int(record.content_hash)))
    return sorted(entries, key=lambda e: (e.at, e.finding_id, e.zone))


def for_sending(
    finding_id: str, plan: PitchPlan, contact: MediaContact, settings: Settings, now: datetime
) -> tuple[PitchPlan, list[str]]:
    """An approved plan cut to what is due now, with the notes saying when the rest go
    (the waiting windows are recorded for ``outreach calendar``)."""
    notes = [note for note in (zone_note(plan, contact),) if note]
    notes += early_notes(finding_id, plan, now)
    notes += waiting_notes(finding_id, plan, now)
    remember_waiting(finding_id, plan, settings, now)
    return due_now(plan, now), notes
