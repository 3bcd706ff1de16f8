"""What releasing an event does after its pages are out, as after-publish actions.

- ``InviteChanges``: when the invite's fields changed since the last release (time, zone,
  join link, title) registrants get an update invite (SEQUENCE+1); when the event is
  cancelled, a METHOD:CANCEL. Not gated: people asked for these. Crash-safe sends.
- ``FillSeats``: a raised capacity seats people from the waiting list in order, each sent
  the invite once (and any email a crashed web app still owes goes out).
- ``AnnounceEvent``: one email to each confirmed newsletter subscriber whose topics match
  and each past registrant who agreed to hear of events on them (once per address), with a
  register button, behind the newsletter's approval gate.
- ``PushToCalendar``: the team's CalDAV calendar, when ``[calendar] url`` is set.
- ``ScheduleReminders``: the 24h and 1h reminders still ahead, as runs a server starts at
  their time (``event-reminders``, an idempotency key each); without a server, when to run
  ``outreach events remind ID``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from outreach.actions import Action, ActionContext, ScheduledRun
from outreach.config import Settings
from outreach.events.status import is_cancelled, takes_sign_ups
from outreach.store import has_state

if TYPE_CHECKING:
    from outreach.events.model import Event
    from outreach.gates import Shown, TestMessage


def invite_fields(event: Event) -> dict[str, object]:
    """What an invite carries that registrants must hear about when it changes."""
    return {
        "starts": event.starts.isoformat(),
        "ends": event.ends.isoformat(),
        "timezone": event.timezone,
        "join_url": event.join_url,
        "title": event.title,
    }


@dataclass(frozen=True)
class InviteChanges:
    """Update invites, or cancellations, to registrants after a published change."""

    event: Event
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def describe(self, context: ActionContext, state: str) -> list[str]:
        """For a dry run: whether registrants would get an update or a cancellation."""
        from outreach.events.registrations import RegistrationStore
        from outreach.events.sequence import SequenceLedger

        settings, event = context.settings, self.event
        if not has_state(settings.paths.ledger) or not has_state(settings.paths.subscribers):
            return []
        ledger = SequenceLedger(settings.paths.ledger)
        if not ledger.would_change(event.id, invite_fields(event), is_cancelled(event)):
            return []
        states = ("confirmed", "waiting") if is_cancelled(event) else ("confirmed",)
        count = len(RegistrationStore(settings.paths.subscribers).of_event(event.id, states))
        what = "a cancellation" if is_cancelled(event) else "an update invite"
        return [f"Would send {what} of '{event.id}' to {count} registrant(s)."]

    def run(self, context: ActionContext) -> list[str]:
        from outreach.events.emails import cancel_email, invite_email
        from outreach.events.mailing import Mailing, deliver_mailing, summary
        from outreach.events.registrations import RegistrationStore, State
        from outreach.events.sequence import SequenceLedger
        from outreach.secrets_store import link_secret
        from outreach.sending import SendLog
        from outreach.templating import environment

        settings, now, event = context.settings, context.now, self.event
        ledger = SequenceLedger(settings.paths.ledger)
        sequenced = ledger.record(event.id, invite_fields(event), is_cancelled(event), now)
        sequence = sequenced.sequence
        kind = "cancel" if sequenced.cancelled else "update"
        send_id = f"event-{kind}:{event.id}:{sequence}"
        log = SendLog(settings.paths.ledger)
        if not sequenced.changed and not (log.is_frozen(send_id) and log.counts(send_id).pending):
            return []  # nothing changed, and no earlier notice left half sent
        env, secret = environment(settings.paths.templates), link_secret(settings)
        store = RegistrationStore(settings.paths.subscribers)
        if sequenced.cancelled:
            states: tuple[State, ...] = ("confirmed", "waiting")
            mailing = Mailing(
                send_id,
                event.id,
                f"Cancelled: {event.title}",
                states,
                lambda r: cancel_email(
                    settings, env, event, r, sequence, now, event_cancelled=True
                ),
            )
        else:
            states = ("confirmed",)
            mailing = Mailing(
                send_id,
                event.id,
                f"Updated: {event.title}",
                states,
                lambda r: invite_email(settings, env, secret, event, r, sequence, now, update=True),
            )
        people = [r.email for r in store.of_event(event.id, states)]
        report, _ = deliver_mailing(settings, mailing, people, now)
        label = "Cancellations" if sequenced.cancelled else f"Update invites (SEQUENCE {sequence})"
        return [summary(f"{label} for '{event.id}'", settings, send_id, report)]


@dataclass(frozen=True)
class FillSeats:
    """Seats freed by a raised capacity go to the waiting list, first come first served, and
    each person seated gets the invite once; also sends what registrations still owe (an
    email a crashed web app left unsent). Not gated: these people asked for a place."""

    event: Event
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def describe(self, context: ActionContext, state: str) -> list[str]:
        """For a dry run: how many on the waiting list a raised capacity would seat."""
        from outreach.events.registrations import RegistrationStore

        settings, event = context.settings, self.event
        if not has_state(settings.paths.subscribers) or not takes_seats(event, context.now):
            return []
        counts = RegistrationStore(settings.paths.subscribers).counts(event.id)
        waiting, seated = counts.get("waiting", 0), counts.get("confirmed", 0)
        capacity = event.registration.capacity
        free = waiting if capacity is None else max(0, min(waiting, capacity - seated))
        return [f"Would seat {free} from the waiting list of '{event.id}'."] if free else []

    def run(self, context: ActionContext) -> list[str]:
        from outreach.events.outbox import send_owed
        from outreach.events.registrations import RegistrationStore

        settings, event = context.settings, self.event
        notes: list[str] = []
        if takes_seats(event, context.now):
            store = RegistrationStore(settings.paths.subscribers)
            seated = store.fill_seats(event.id, event.registration.capacity, context.now)
            if seated:
                notes.append(
                    f"Seated {len(seated)} from the waiting list of '{event.id}' "
                    f"(capacity {event.registration.capacity or 'no limit'})."
                )
        sent = send_owed(settings, {event.id: event}, event.id, "release", context.now)
        if sent:
            notes.append(f"Registrant emails for '{event.id}': {len(sent)} sent now.")
        return notes


def takes_seats(event: Event, now: datetime) -> bool:
    """Whether someone may still be given a seat: not cancelled, not started."""
    return not is_cancelled(event) and now < event.starts


@dataclass(frozen=True)
class AnnounceEvent:
    """The event announced to the subscribers of its topics and the past registrants who
    agreed to hear of them (after approval)."""

    event: Event
    gate: ClassVar[str | None] = "newsletter"

    @property
    def publication(self) -> str:
        return f"event:{self.event.id}"

    @property
    def label(self) -> str:
        return f"The announcement of event '{self.event.id}'"

    def shown(self, settings: Settings, now: datetime) -> Shown:
        """What the approver sees: the subject and who it reaches (subscribers of the event's
        topics and past registrants who agreed to hear of them)."""
        from outreach.events.announce import audience
        from outreach.gates import SAMPLE_SIZE, Shown
        from outreach.suppression import suppressions_for

        emails = list(audience(settings, self.event))
        blocked = suppressions_for(settings).suppressed(emails) if emails else set()
        reached = [e for e in emails if e not in blocked]
        return Shown(
            subject=self.event.title,
            count=len(reached),
            sample=tuple(reached[:SAMPLE_SIZE]),
            text=self.event.summary,
            remark=f"{self.label}: no subscriber of its topics to tell.",
        )

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        return []  # the announcement is personalised per subscriber; previews show it

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> AnnounceEvent | None:
        """The announcement of a released event (``event:<id>``), for ``outreach approve``."""
        from outreach.events.model import read_events

        event = read_events(settings).get(publication_id.removeprefix("event:"))
        return None if event is None else cls(event)

    def awaiting(self) -> str:
        return (
            f"The announcement of event '{self.event.id}' awaits the newsletter's approval; "
            f"nothing sent: run 'outreach approve event:{self.event.id} --gate newsletter'."
        )

    def describe(self, context: ActionContext, state: str) -> list[str]:
        """For a dry run: how many people the announcement would reach (addresses private)."""
        settings = context.settings
        known = has_state(settings.paths.subscribers)  # a dry run makes no store
        count = self.shown(settings, context.now).count if known else 0
        return [f"Would announce event '{self.event.id}' to {count} people{state}."]

    def run(self, context: ActionContext) -> list[str]:
        from outreach.events.announce import announce

        return [announce(context.settings, self.event, context.now)]


@dataclass(frozen=True)
class PushToCalendar:
    """Create, update or delete the event in the team's CalDAV calendar."""

    event: Event
    sequence_from_ledger: bool = True
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def run(self, context: ActionContext) -> list[str]:
        from outreach.events.caldav import push_event
        from outreach.events.ics import event_calendar
        from outreach.events.sequence import SequenceLedger

        settings, event = context.settings, self.event
        ledger = SequenceLedger(settings.paths.ledger)
        method = "CANCEL" if is_cancelled(event) else "PUBLISH"
        calendar = event_calendar(event, settings, method, ledger.current(event.id))
        printed = hashlib.sha256(calendar).hexdigest()
        if ledger.pushed(event.id) == printed:
            return []  # the calendar holds this already: a re-run pushes nothing
        note = push_event(settings, event, calendar)
        ledger.record_push(event.id, printed, context.now)
        return [note]


REMINDER_DEPLOYMENT = "event-reminders/event-reminders"


@dataclass(frozen=True)
class ScheduleReminders:
    """The event's reminders still ahead (none once it is cancelled): scheduled runs on a
    server, exactly once per reminder and time; a moved event gets new runs and the old
    ones find nothing due (``outreach.events.reminders.due``)."""

    event: Event
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def scheduled_runs(self, context: ActionContext) -> list[ScheduledRun]:
        from outreach.events.reminders import REMINDERS, due_at

        if is_cancelled(self.event):
            return []
        runs: list[ScheduledRun] = []
        for reminder in REMINDERS:
            at = due_at(self.event, reminder)
            if at <= context.now:
                continue
            parameters = {"event_id": self.event.id, "reminder": reminder.label}
            if context.config:
                parameters["config"] = context.config
            runs.append(
                ScheduledRun(
                    REMINDER_DEPLOYMENT,
                    parameters,
                    at,
                    f"remind-{self.event.id}-{reminder.label}-{at.isoformat()}",
                    f"the {reminder.label} reminder of '{self.event.id}'",
                    f"The {reminder.label} reminder of '{self.event.id}' is due at "
                    f"{at.isoformat()}: run 'outreach events remind {self.event.id}' then "
                    "(a server schedules it).",
                )
            )
        return runs

    def describe(self, context: ActionContext, state: str) -> list[str]:
        return [
            f"Would schedule {run.label} at {run.at.isoformat()}."
            for run in self.scheduled_runs(context)
        ]

    def run(self, context: ActionContext) -> list[str]:
        """Without a scheduler: when to send each reminder by hand."""
        return [run.note for run in self.scheduled_runs(context)]


def event_actions(event: Event, settings: Settings, now: datetime) -> list[Action]:
    """The actions of releasing ``event``: invite changes first (they bump the SEQUENCE the
    calendar push and a new seat's invite carry), then seats for the waiting list, then the
    calendar, then the (gated) announcement while registration is open and it is not out
    yet. Each does nothing when nothing changed, so every release may return them all."""
    from outreach.events.caldav import enabled

    actions: list[Action] = [InviteChanges(event), FillSeats(event)]
    if enabled(settings):
        actions.append(PushToCalendar(event))
    if takes_sign_ups(event, now) and not announced(settings, event):
        actions.append(AnnounceEvent(event))
    actions.append(ScheduleReminders(event))
    return actions


def announced(settings: Settings, event: Event) -> bool:
    """Whether the event's announcement went out to everyone it was frozen for (a release
    again then asks no approval and sends nothing)."""
    from outreach.events.announce import send_id_of
    from outreach.sending import SendLog

    if not has_state(settings.paths.ledger):  # a preview or a first release: not yet
        return False
    log = SendLog(settings.paths.ledger)
    send_id = send_id_of(event)
    return log.is_frozen(send_id) and not log.counts(send_id).pending
