"""Questions about an event that registration, reminders and notices all ask."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outreach.events.model import Event


def is_cancelled(event: Event) -> bool:
    """Whether the event is called off (``cancelled: true`` in its file): no more sign-ups or
    reminders; registrants get a CANCEL and the team's calendar entry is deleted."""
    return event.cancelled


def takes_sign_ups(event: Event, now: datetime) -> bool:
    """The form is open at ``now`` and the event is not cancelled."""
    return not is_cancelled(event) and event.registration_open(now)
